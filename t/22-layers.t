# Layers call downward only: no two source files of the executor, or of the
# module, use each other's functions, directly or through other files
# (scripts/check-layers, from cflow's cross-reference).
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(top);
use Test::More;

my $out = `${\ top()}/scripts/check-layers 2>&1`;
is($? >> 8, 0, 'no loop between source files') or diag($out);
is($out, '', 'and nothing to say');

done_testing();
