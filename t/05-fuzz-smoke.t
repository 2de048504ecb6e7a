# Each libFuzzer harness runs a fixed number of inputs from its seed corpus
# with a fixed seed, so this is repeatable; longer runs: make fuzz-run.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(top tmpdir);
use Test::More;

my @fuzzers = sort glob(top() . '/build/fuzz/*_fuzz');
ok(@fuzzers >= 3, 'fuzz harnesses are built') or diag('run make fuzz');

for my $f (@fuzzers) {
    my $name = (split m{/}, $f)[-1];
    my $work = tmpdir() . "/$name";
    mkdir $work;
    my $out = `$f -runs=20000 -seed=1 -artifact_prefix=$work/ \\
               $work @{[ top() ]}/fuzz/corpus/$name 2>&1`;
    is($?, 0, "$name: 20000 inputs without a finding")
        or diag(join "\n", (split /\n/, $out)[-30 .. -1]);
}

done_testing();
