# Layers call downward only: no two source files of the executor, or of the
# module, use each other's functions, directly or through other files, and
# no two of the executor's folders (scripts/check-layers, from cflow's
# cross-reference).
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use File::Path qw(make_path);
use File::Temp qw(tempdir);
use FnTest qw(top);
use Test::More;

my $check = top() . '/scripts/check-layers';
my $out = `$check 2>&1`;
is($? >> 8, 0, 'no loop between source files or folders') or diag($out);
is($out, '', 'and nothing to say');

# what it finds, on files made to loop
my $dir = tempdir(CLEANUP => 1);
sub src {
    my ($path, $text) = @_;
    make_path((my $d = "$dir/$path") =~ s{/[^/]+$}{}r);
    open(my $fh, '>', "$dir/$path") or die $!;
    print $fh $text;
    close $fh;
    return "$dir/$path";
}
my @pair = (src('a/x.c', "void y(void);\nvoid x(void) { y(); }\n"),
            src('b/y.c', "void x(void);\nvoid y(void) { x(); }\n"));
$out = `$check @pair 2>&1`;
is($? >> 8, 1, 'two files that call each other: a loop');
like($out, qr{^loop: \S+/a/x\.c \S+/b/y\.c\n\s+\S+/a/x\.c -> \S+/b/y\.c: y$}m,
     'named, with the function that ties them');
my @dirs = (src('c/top.c', "void low(void);\nvoid top(void) { low(); }\n"),
            src('c/util.c', "void util(void) { }\n"),
            src('d/low.c', "void low(void) { }\n"),
            src('d/more.c', "void util(void);\nvoid more(void) { util(); }\n"));
$out = `$check @dirs 2>&1`;
is($? >> 8, 1, 'no file loop, but two folders that use each other: a loop');
like($out, qr{^loop: \S+/c \S+/d$}m, 'the folders are named');

done_testing();
