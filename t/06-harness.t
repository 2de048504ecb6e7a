# The test harness itself: fresh databases and vhosts exist while a test
# runs and are gone after it; a failing test prints the logs of what it
# started.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(top tmpdir spew db_root stack_env rabbitmqctl);
use Test::More;

my $child = tmpdir() . '/child.t';
spew($child, <<'PERL');
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';
use FnTest qw(fresh_database fresh_vhost db_query executor_start rabbitmqctl);
use Test::More;

my $db = fresh_database();
my $vhost = fresh_vhost();
print "# db=$db vhost=$vhost\n";
is_deeply(db_query($db, 'SELECT value FROM generation'), [[0]],
          'the fresh database is migrated');
is(rabbitmqctl('list_permissions', '-p', $vhost), 0,
   'the fresh vhost exists');
my $ex = executor_start();
ok($ex->pid, 'an executor runs');
ok(!$ENV{CHILD_FAIL}, 'a test that fails when asked to');
done_testing();
PERL

sub run_child {
    my ($fail) = @_;
    local $ENV{CHILD_FAIL} = $fail;
    my $out = `cd @{[ top() ]} && perl $child 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run_child(0);
is($rc, 0, 'a passing test file exits 0') or diag($out);
my ($db, $vhost) = $out =~ /# db=(\w+) vhost=(\w+)/;
ok($db && $vhost, 'it got a database and a vhost');

my @dbs = `@{[ join ' ', db_root() ]} -e 'SHOW DATABASES'`;
ok(!grep(/^\Q$db\E$/, @dbs), 'its database is dropped at the end');
isnt(rabbitmqctl('list_permissions', '-p', $vhost), 0,
     'its vhost is deleted at the end');

($rc, $out) = run_child(1);
isnt($rc, 0, 'a failing test file fails');
like($out, qr/---- executor 1 log \(.*\), last lines:\n(?:# .*\n)*?# time=\S+ level=info msg="executor started"/,
     'and prints the tail of the logs of what it started');

done_testing();
