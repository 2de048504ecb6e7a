# The C unit tests (pure parsers and encoders): each binary prints TAP;
# every one of its results becomes a result here.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnTest qw(build_dir top);
use TAP::Parser;
use Test::More;

# every t/unit/*_test.c has its binary: one that is missing fails by name
my @names = sort map { m{([^/]+)\.c$} } glob(top() . '/t/unit/*_test.c');
ok(@names > 0, 'unit test sources are found');

for my $name (@names) {
    my $bin = build_dir() . "/unit/$name";
    subtest $name => sub {
        ok(-x $bin, "$name is built") or do { diag('run make first'); return };
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
