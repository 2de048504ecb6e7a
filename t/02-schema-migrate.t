# The schema migrates from empty, and migrating again changes nothing.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy);
use FnTest qw(fresh_database migrate db_query tmpdir top spew);
use Test::More;

my $db = fresh_database(migrate => 0);

my $out = migrate($db);
is($?, 0, 'migrate on an empty database succeeds') or diag($out);
like($out, qr/^applied  001_initial$/m, 'and says what it applied');

my %tables = map { $_->[0] => 1 } @{ db_query($db, 'SHOW TABLES') };
for my $t (qw(apps routes calls call_logs generation route_changes
              schema_migrations)) {
    ok($tables{$t}, "table $t exists");
}

# Every route field of the API has a column, jwt_key included.
my %route_cols = map { $_->[0] => 1 }
                 @{ db_query($db, 'SHOW COLUMNS FROM routes') };
for my $c (qw(app_name path image memory type format timeout idle_timeout
              max_concurrency headers config jwt_key)) {
    ok($route_cols{$c}, "routes.$c exists");
}
my %call_cols = map { $_->[0] => 1 }
                @{ db_query($db, 'SHOW COLUMNS FROM calls') };
for my $c (qw(id app_name path status reason error created_at started_at
              completed_at attempt)) {
    ok($call_cols{$c}, "calls.$c exists");
}

is_deeply(db_query($db, 'SELECT id, value FROM generation'), [[1, 0]],
          'the generation counter starts at 0, one row');

my $dump = sub {
    join "\n", map { join "\t", @$_ } @{ db_query($db,
        "SELECT table_name, column_name, column_type, is_nullable,
                column_default
         FROM information_schema.columns WHERE table_schema = '$db'
         ORDER BY table_name, ordinal_position") };
};
my $before = $dump->();
my $versions = db_query($db, 'SELECT version, state, checksum FROM schema_migrations');
my @shipped = map { m{/(\d{3})_[^/]+\.sql$} ? 0 + $1 : () }
              sort glob(top() . '/sql/*.sql');
is_deeply([ map { [ @$_[0, 1] ] } @$versions ],
          [ map { [ $_, 'applied' ] } @shipped ],
          'every migration is recorded as applied');
is($versions->[0][2], sha256_hex(FnTest::slurp(top() . '/sql/001_initial.sql')),
   'with the checksum of its file');

$out = migrate($db);
is($?, 0, 'migrating again succeeds') or diag($out);
like($out, qr/schema of \Q$db\E is up to date/, 'and says there was nothing to do');
is($dump->(), $before, 'and changes no column');
is_deeply(db_query($db, 'SELECT id, value FROM generation'), [[1, 0]],
          'nor any data');

$out = migrate($db, 'status');
like($out, qr/^applied  001_initial$/m, 'status lists applied migrations');

# A new migration in the directory is applied, once.
my $dir = tmpdir() . '/sql';
mkdir $dir;
copy($_, $dir) or die for glob(top() . '/sql/*.sql');
spew("$dir/902_add_note.sql", "ALTER TABLE apps ADD COLUMN note TEXT NULL;\n");
$out = migrate($db, '--dir', $dir, 'status');
like($out, qr/^pending  902_add_note$/m, 'status shows a pending migration');
$out = migrate($db, '--dir', $dir);
like($out, qr/^applied  902_add_note$/m, 'a new migration is applied');
unlike($out, qr/001_initial/, 'the old one is not applied again');

# An applied migration that was edited is refused, not silently skipped.
spew("$dir/902_add_note.sql", "ALTER TABLE apps ADD COLUMN note2 TEXT NULL;\n");
$out = migrate($db, '--dir', $dir);
isnt($?, 0, 'an edited applied migration stops migrate');
like($out, qr/migration 902_add_note changed after it was applied/,
     'and says so');

# A migration that fails half-way stays marked and blocks later runs.
spew("$dir/902_add_note.sql", "ALTER TABLE apps ADD COLUMN note TEXT NULL;\n");
spew("$dir/903_broken.sql", "CREATE TABLE t3 (a INT);\nTHIS IS NOT SQL;\n");
$out = migrate($db, '--dir', $dir);
isnt($?, 0, 'a failing migration fails migrate');
like($out, qr/migration 903_broken failed/, 'naming it');
$out = migrate($db, '--dir', $dir);
isnt($?, 0, 'and the next run refuses to go on');
like($out, qr/migration 903_broken was interrupted \(state applying\)/,
     'saying the migration was interrupted');

# Bad arguments.
$out = migrate('bad-name');
isnt($?, 0, 'a hostile database name is refused');
like($out, qr/invalid database name "bad-name"/, 'with a message');

done_testing();
