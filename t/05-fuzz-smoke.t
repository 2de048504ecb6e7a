# Each libFuzzer harness runs a fixed number of inputs from its seed corpus
# with a fixed seed, so this is repeatable; longer runs: make fuzz-run.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(top tmpdir);
use Test::More;

# every fuzz/*_fuzz.c has its harness: one that is missing fails by name
my @names = sort map { m{([^/]+)\.c$} } glob(top() . '/fuzz/*_fuzz.c');
ok(@names > 0, 'fuzz harness sources are found');

for my $name (@names) {
    my $f = top() . "/build/fuzz/$name";
    ok(-x $f, "$name is built") or do { diag('run make fuzz'); next };
    my $work = tmpdir() . "/$name";
    mkdir $work;
    my $out = `$f -runs=20000 -seed=1 -artifact_prefix=$work/ \\
               $work @{[ top() ]}/fuzz/corpus/$name 2>&1`;
    is($?, 0, "$name: 20000 inputs without a finding")
        or diag(join "\n", (split /\n/, $out)[-30 .. -1]);
}

done_testing();
