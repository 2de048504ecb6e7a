# The C unit tests (pure parsers and encoders): each binary prints TAP;
# every one of its results becomes a result here.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(build_dir);
use TAP::Parser;
use Test::More;

my @bins = sort grep { -x } glob(build_dir() . '/unit/*');
ok(@bins >= 2, 'unit test binaries are built') or diag('run make first');

for my $bin (@bins) {
    my $name = (split m{/}, $bin)[-1];
    subtest $name => sub {
        my $parser = TAP::Parser->new({ exec => [$bin] });
        while (my $r = $parser->next) {
            if ($r->is_test) {
                ok($r->is_ok, $r->description);
            } elsif ($r->is_comment) {
                diag($r->as_string);
            }
        }
        ok(!$parser->parse_errors, 'TAP parses') or diag($parser->parse_errors);
        is($parser->exit, 0, 'exits 0');
    };
}

done_testing();
