# The web console in a real browser: Debian's chromium, headless, driven by
# puppeteer-core (t/browser/console.js) through the console's own server
# block.  Signing in (a wrong token too), an app and a route created,
# called, edited and deleted, an async call followed to its log, the live
# view, and hostile strings in names, config and output shown as text
# with no script run.  Screenshots are left in build/test-artefacts/console.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use File::Path qw(make_path remove_tree);
use FnConsole;
use FnTest qw(top);
use POSIX ();
use Test::More;

my $top = top();
my $modules = "$top/build/npm/browser/node_modules/puppeteer-core";
# scripts/deps installs them: their absence is a failure, not a skip
-x '/usr/bin/chromium' or BAIL_OUT('chromium is missing: run scripts/deps');
-d $modules or BAIL_OUT('puppeteer-core is missing: run scripts/deps');

my $c = FnConsole::start();
my $shots = "$top/build/test-artefacts/console";
remove_tree($shots);
make_path($shots);

my $pid = open(my $out, '-|') // die "fork: $!";
if ($pid == 0) {
    $ENV{NODE_PATH} = "$top/build/npm/browser/node_modules";
    $ENV{CONSOLE_URL} = $c->{url};
    $ENV{TOKEN} = $c->{token};
    $ENV{SHOTS} = $shots;
    $ENV{HOME} = $shots;    # chromium's caches, not root's home
    open(STDERR, '>&', \*STDOUT);
    exec('node', "$top/t/browser/console.js") or POSIX::_exit(127);
}

my $seen = 0;
{
    # a browser that hangs is killed: the test fails, it does not wait
    local $SIG{ALRM} = sub { kill 'KILL', $pid };
    alarm 300;
    while (my $line = <$out>) {
        chomp $line;
        if ($line =~ /^(not )?ok - (.*?)(?: # (.*))?$/) {
            $seen++;
            ok(!$1, $2) or diag($3 // '');
        } else {
            diag($line);
        }
    }
    alarm 0;
}
close($out);
is($? >> 8, 0, 'the browser session ended well');
cmp_ok($seen, '>=', 25, 'every check of the session reported');

for my $s (qw(route-called route-field-error async-followed calls live
              hostile-app hostile-route)) {
    my $f = "$shots/$s.png";
    ok(-s $f && -s $f > 10_000, "screenshot $s.png saved");
}
remove_tree(glob("$shots/profile-*"));

done_testing();
