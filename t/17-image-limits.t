# Function images are hostile too: what a layer may unpack to is limited
# (bytes and entries, per layer and per image), a refused image leaves
# nothing in the store, one digest is unpacked once however many calls ask
# at once, and the store is kept under its size by removing the least
# recently used trees, never one a sandbox or a call uses.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request wait_until slurp);
use IO::Compress::Gzip;
use JSON::PP;
use POSIX ();
use Test::More;

my $json = JSON::PP->new->canonical;
my $MB = 1024 * 1024;

# ------------------------------------------------------------- helpers

# A ustar header: type '0' a file, '5' a directory.
sub tar_header {
    my ($name, $size, $type) = @_;
    my $h = pack('a100 a8 a8 a8 a12 a12 a8 a1 a100 a6 a2 a32 a32 a8 a8 a155 a12',
        $name, sprintf('%07o', $type eq '5' ? 0755 : 0644), '0000000',
        '0000000', sprintf('%011o', $size), sprintf('%011o', 1700000000),
        ' ' x 8, $type, '', "ustar\0", '00', 'root', 'root', '', '', '', '');
    my $sum = unpack('%32C*', $h);
    substr($h, 148, 8) = sprintf("%06o\0 ", $sum);
    return $h;
}

# A gzip layer of one file of $bytes zeros, streamed: never in memory.
sub zeros_layer {
    my ($name, $bytes) = @_;
    my $z = '';
    my $gz = IO::Compress::Gzip->new(\$z, -Level => 9) or die;
    $gz->print(tar_header($name, $bytes, '0'));
    my $chunk = "\0" x $MB;
    $gz->print($chunk) for 1 .. $bytes / $MB;
    $gz->print("\0" x 1024);
    $gz->close;
    return { blob => $z, gzip => 1 };
}

# A gzip layer of $n empty files in directory $dir.
sub entries_layer {
    my ($dir, $n) = @_;
    my $tar = tar_header("$dir/", 0, '5');
    $tar .= tar_header(sprintf('%s/f%06d', $dir, $_), 0, '0') for 1 .. $n;
    $tar .= "\0" x 1024;
    my $z;
    IO::Compress::Gzip::gzip(\$tar => \$z) or die;
    return { blob => $z, gzip => 1 };
}

sub random_bytes {
    my ($n) = @_;
    open(my $fh, '<:raw', '/dev/urandom') or die $!;
    read($fh, my $b, $n) == $n or die;
    close $fh;
    return $b;
}

# An image whose handler is $script, with more layers; returns its name
# and manifest digest.
sub image {
    my ($ex, $name, $script, %o) = @_;
    my $config = exists $o{config} ? $o{config}
                                   : { Cmd => ['/bin/sh', '/fn/handler'] };
    my $digest = FnImage::build($ex->dir . "/images/$name", tag => 'v1',
        config => $config, gzip => $o{gzip} // 1,
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ 'fn/handler', data => "# $name\n$script",
                        mode => 0755 ],
                      @{ $o{files} // [] } ],
                    @{ $o{more_layers} // [] } ]);
    return ("oci:$name:v1", $digest);
}

my $n = 0;
sub call_id { sprintf('01ARZ3NDEKTSV4RRFFQ69G%04d', $n++) }

sub call {
    my ($ex, %route) = @_;
    my $timeout = delete $route{client_timeout} // 60;
    my $id = delete $route{call_id} // call_id();
    return unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/x',
                     'Fn-Route' => $json->encode({ app => 'demo',
                                                   path => '/x', %route }) },
        body => '', timeout => $timeout);
}

sub error_of {
    my $b = eval { decode_json($_[0]{body}) } // {};
    return $b->{error}{message} // '';
}

sub rootfs { $_[0]->dir . '/state/rootfs' }

# What the store holds: tree names (hex digests and any leftovers).
sub store_entries {
    my ($ex) = @_;
    opendir(my $d, rootfs($ex)) or return ();
    my @e = sort grep { !/^\.\.?$/ } readdir $d;
    closedir $d;
    return @e;
}

sub tree_of { my ($ex, $digest) = @_; return rootfs($ex) . '/' . substr($digest, 7) }

sub count_lines {
    my ($ex, $re) = @_;
    return scalar(grep { /$re/ } split /\n/, $ex->log);
}

# Calls at once: each child connects, then all send together; returns
# the answers.
sub calls_at_once {
    my ($ex, $k, %route) = @_;
    my $dir = $ex->dir;
    pipe(my $go_r, my $go_w) or die;
    my @pids;
    for my $i (1 .. $k) {
        my $pid = fork // die;
        if ($pid == 0) {
            close $go_w;
            my $id = sprintf('01ARZ3NDEKTSV4RRFFQ69J%04d', $n + $i);
            my $sock = IO::Socket::UNIX->new(Peer => $ex->socket) or die;
            sysread($go_r, my $x, 1);       # end of file: go
            my $body = '';
            my %h = ('Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/x',
                     'Fn-Route' => $json->encode({ app => 'demo',
                                                   path => '/x', %route }),
                     Host => 'localhost', Connection => 'close',
                     'Content-Length' => 0);
            my $r = FnTest::_request($sock, 'POST', '/call', raw =>
                "POST /call HTTP/1.1\r\n"
                . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n",
                timeout => 120);
            FnTest::spew("$dir/at-once-$i", $json->encode(
                { status => $r->{status}, body => $r->{body} }));
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    $n += $k;
    close $go_r;
    close $go_w;
    waitpid($_, 0) for @pids;
    my @r;
    for my $i (1 .. $k) {
        push @r, decode_json(slurp("$dir/at-once-$i") // '{}');
        unlink "$dir/at-once-$i";
    }
    return @r;
}

# ------------------------------------------------------ limits on layers

my $lim = executor_start(layer_max_bytes => '8m', layer_max_entries => 500,
                         image_max_bytes => '12m', image_max_entries => 800,
                         image_store_max_bytes => '64m', max_sandboxes => 8);

subtest 'an image within the limits runs' => sub {
    my ($img) = image($lim, 'fine', "echo fine\n",
                      more_layers => [ zeros_layer('fn/six', 6 * $MB) ]);
    my $r = call($lim, image => $img);
    is($r->{status}, 200, 'answers 200') or diag($r->{body});
    is($r->{body}, "fine\n", 'and runs');
};

# Each case: a layer (or layers) over one limit; the key the answer names.
my @bombs = (
    [ 'gzip-bomb', 'a 200 MiB file of zeros in a gzip layer',
      [ zeros_layer('fn/bomb', 200 * $MB) ],
      qr/layer 3 of 3 unpacks to more than layer_max_bytes \(8388608 bytes\)/ ],
    [ 'image-bytes', 'two layers of 7 MiB each',
      [ zeros_layer('fn/a', 7 * $MB), zeros_layer('fn/b', 7 * $MB) ],
      qr/its layers unpack to more than image_max_bytes \(12582912 bytes\), reached in layer 4 of 4/ ],
    [ 'entries-bomb', '5000 empty files in one layer (2.5 MiB of tar)',
      [ entries_layer('many', 5000) ],
      qr/layer 3 of 3 has more than layer_max_entries \(500 entries\)/ ],
    [ 'image-entries', 'two layers of 450 files each',
      [ entries_layer('a', 450), entries_layer('b', 450) ],
      qr/its layers have more than image_max_entries \(800 entries\), reached in layer 4 of 4/ ],
);

for my $b (@bombs) {
    my ($name, $what, $layers, $re) = @$b;
    subtest "$name: $what" => sub {
        my @before = store_entries($lim);
        my ($img, $digest) = image($lim, $name, "echo ran\n",
                                   more_layers => $layers);
        my $r = call($lim, image => $img);
        is($r->{status}, 502, 'refused: 502');
        my $msg = error_of($r);
        like($msg, qr/^image "\Q$img\E" is too large: /, 'naming the image');
        like($msg, $re, 'and the limit it went over') or diag($msg);
        is_deeply([ store_entries($lim) ], \@before,
                  'nothing of it is left in the store');
        ok(!-e tree_of($lim, $digest), 'no tree of its digest');
    };
}

subtest 'the gzip bomb is small, and is refused' => sub {
    my $layout = $lim->dir . '/images/gzip-bomb';
    my $index = decode_json(slurp("$layout/index.json"));
    my $manifest = decode_json(slurp("$layout/blobs/sha256/"
        . substr($index->{manifests}[0]{digest}, 7)));
    my $bomb = $manifest->{layers}[2];
    ok($bomb->{size} < 400 * 1024, 'the bomb layer is '
       . int($bomb->{size} / 1024) . ' KiB of gzip for 200 MiB');
    like($lim->log, qr/msg="image not unpacked" image=oci:gzip-bomb:v1 .*error="image \\"oci:gzip-bomb:v1\\" is too large/,
         'the refusal is logged');
};

subtest 'a layer blob larger than layer_max_bytes is not even read' => sub {
    # an uncompressed tar followed by 9 MiB of padding: the tar itself
    # is small, the blob is not
    my $tar = tar_header('pad', 0, '0') . "\0" x 1024 . "\0" x (9 * $MB);
    my ($img, $digest) = image($lim, 'big-blob', "echo ran\n", gzip => 0,
        more_layers => [ { blob => $tar, gzip => 0 } ]);
    my $r = call($lim, image => $img);
    is($r->{status}, 502, 'refused: 502');
    like(error_of($r), qr/^image "\Q$img\E" is too large: layer 3 of 3 is larger than layer_max_bytes \(8388608 bytes\) before it is even unpacked/,
         'naming the image and the limit') or diag($r->{body});
    ok(!-e tree_of($lim, $digest), 'no tree of its digest');
};

subtest 'calls of a bomb at once: one unpack, every call refused' => sub {
    my ($img, $digest) = image($lim, 'bomb-at-once', "echo ran\n",
        more_layers => [ zeros_layer('fn/bomb', 64 * $MB) ]);
    my @r = calls_at_once($lim, 4, image => $img);
    is_deeply([ map { $_->{status} } @r ], [ 502, 502, 502, 502 ],
              'four calls, four 502s');
    is(scalar(grep { ($_->{body} // '') =~ /layer_max_bytes/ } @r), 4,
       'each naming the limit');
    is(count_lines($lim, qr/msg="image not unpacked" image=oci:bomb-at-once:v1 /),
       1, 'one unpack was tried');
    ok(!-e tree_of($lim, $digest), 'no tree of its digest');
};

# ------------------------------------------------------- one unpack each

subtest 'first calls of one image at once unpack it once' => sub {
    my $ex = executor_start(max_sandboxes => 8);
    my ($img, $digest) = image($ex, 'popular', "echo popular\n",
        files => [ [ 'fn/data', data => random_bytes(24 * $MB) ] ]);
    my @r = calls_at_once($ex, 6, image => $img);
    is_deeply([ map { $_->{status} } @r ], [ (200) x 6 ],
              'six calls at once, six 200s')
        or diag(join("\n", map { $_->{body} // '' } @r));
    is(scalar(grep { ($_->{body} // '') eq "popular\n" } @r), 6,
       'each ran the function');
    is(count_lines($ex, qr/msg="image unpacked" image=oci:popular:v1 /), 1,
       'the image was unpacked once');
    my $m = unix_request($ex->socket, 'GET', '/metrics');
    like($m->{body}, qr/^functions_image_unpacks_total 1$/m,
         'and counted once');
    is_deeply([ store_entries($ex) ], [ substr($digest, 7) ],
              'one tree in the store, no leftovers');
};

# ------------------------------------------------------- the store's size

# Images of about 3 MiB on disk each (busybox and 1 MiB of noise): a
# store of 7 MiB keeps two.
my %store = (image_store_max_bytes => '7m', image_max_bytes => '7m',
             layer_max_bytes => '7m');

sub sized_image {
    my ($ex, $name, $script) = @_;
    return image($ex, $name, $script // "echo $name\n",
                 files => [ [ 'fn/noise', data => random_bytes($MB) ] ]);
}

subtest 'the least recently used images are removed first' => sub {
    my $ex = executor_start(%store, sandbox_idle_timeout => '0');
    my %img;
    for my $k (qw(a b c)) {
        @{ $img{$k} } = sized_image($ex, $k);
    }
    my $present = sub { join '', map { -d tree_of($ex, $img{$_}[1]) ? $_ : '' }
                                 sort keys %img };
    # sandboxes close after each call here; wait for them to be gone, so
    # that only use decides
    my $run = sub {
        my ($k) = @_;
        my $r = call($ex, image => $img{$k}[0]);
        is($r->{status}, 200, "$k answers") or diag($r->{body});
        ok(wait_until(30, sub { !$ex->sandbox_groups }),
           '  its sandbox is gone');
    };
    $run->('a');
    $run->('b');
    is($present->(), 'ab', 'a and b fit');
    $run->('c');
    ok(wait_until(30, sub { $present->() eq 'bc' }),
       'c is one too many: a, used least recently, is removed')
        or diag('present: ' . $present->());
    $run->('a');
    ok(wait_until(30, sub { $present->() eq 'ac' }),
       'a again (unpacked again): b goes')
        or diag('present: ' . $present->());
    $run->('c');
    $run->('b');
    ok(wait_until(30, sub { $present->() eq 'bc' }),
       'c used after a: a goes, though it was unpacked after c')
        or diag('present: ' . $present->());
    is(count_lines($ex, qr/msg="image unpacked" image=oci:a:v1 /), 2,
       'a was unpacked twice');
    is(count_lines($ex, qr/msg="image removed" digest=\Q$img{a}[1]\E /), 2,
       'and its removals are logged');
    ok(wait_until(30, sub { !grep { /^\./ } store_entries($ex) }),
       'removed trees are gone from the disk');
    my $m = unix_request($ex->socket, 'GET', '/metrics')->{body};
    like($m, qr/^functions_image_removed_total 3$/m, 'removals are counted');
    like($m, qr/^functions_image_store_images 2$/m, 'two images are kept');
    my ($bytes) = $m =~ /^functions_image_store_bytes (\d+)$/m;
    ok($bytes > 4 * $MB && $bytes <= 7 * $MB,
       "they take $bytes bytes, within image_store_max_bytes");
};

subtest 'images in use are kept: idle sandbox, running call, waiting call' => sub {
    # one slot: a running call holds it, a hot call waits for it
    my $ex = executor_start(%store, sandbox_idle_timeout => '60s',
                            sandbox_idle_max => 8, max_sandboxes => 1,
                            queue_timeout => '60s');
    my $tmp = FnTest::tmpdir();
    system('cc', '-static', '-O2', '-o', "$tmp/hot",
           FnTest::top() . '/t/fn/hot.c') == 0
        or BAIL_OUT('cannot build t/fn/hot.c');
    my @idle = sized_image($ex, 'idle');
    # runs until the test puts /fn/go into its tree
    my @busy = sized_image($ex, 'busy',
        "while [ ! -e /fn/go ]; do sleep 1; done; echo busy\n");
    my @waiting = image($ex, 'waiting', '', config => { Cmd => ['/fn/hot'] },
        files => [ [ 'fn/hot', file => "$tmp/hot", mode => 0755 ],
                   [ 'fn/noise', data => random_bytes($MB) ] ]);
    # unpacked, but never given a sandbox: a hot route with no command
    my @loose = image($ex, 'loose', '', config => {},
                      files => [ [ 'fn/noise', data => random_bytes($MB) ] ]);
    my $dir = $ex->dir;
    my $in_background = sub {
        my ($name, %route) = @_;
        my $id = call_id();
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = call($ex, %route, call_id => $id, client_timeout => 150);
            FnTest::spew("$dir/$name-answer",
                         "$r->{status} " . ($r->{body} // ''));
            POSIX::_exit(0);
        }
        return $pid;
    };

    my $r = call($ex, image => $idle[0]);
    is($r->{status}, 200, 'idle: answers, and its sandbox stays idle');
    my $busy_pid = $in_background->('busy', image => $busy[0],
                                    timeout => 120);
    ok(wait_until(60, sub { $ex->function_pids }), 'busy: its call runs');
    my $waiting_pid = $in_background->('waiting', image => $waiting[0],
                                       format => 'http', timeout => 120);
    ok(wait_until(60, sub {
        count_lines($ex, qr/msg="image unpacked" image=oci:waiting:v1 /) }),
       'waiting: its image is unpacked, and it waits for the slot');

    $r = call($ex, image => $loose[0], format => 'http');
    is($r->{status}, 502, 'loose: no sandbox starts (no command)')
        or diag($r->{body});
    like(error_of($r), qr/neither Entrypoint nor Cmd/, '  saying so');
    is(count_lines($ex, qr/msg="image unpacked" image=oci:loose:v1 /), 1,
       '  but its image was unpacked');
    ok(wait_until(30, sub { !-e tree_of($ex, $loose[1]) }),
       'the store is over its size: loose, the one nothing uses, is removed');
    ok(-d tree_of($ex, $idle[1]),
       'idle, used least recently, is kept: its sandbox waits');
    ok(-d tree_of($ex, $busy[1]), 'busy is kept: its call runs');
    ok(-d tree_of($ex, $waiting[1]),
       'waiting is kept: its call holds it, though it has no sandbox yet');

    FnTest::spew(tree_of($ex, $busy[1]) . '/fn/go', '');
    waitpid($busy_pid, 0);
    is(slurp("$dir/busy-answer"), "200 busy\n", 'the busy call ends well');
    waitpid($waiting_pid, 0);
    like(slurp("$dir/waiting-answer"), qr/^200 /,
         'the waiting call gets the slot and runs');
    $r = call($ex, image => $idle[0]);
    is($r->{status}, 200, 'the idle image answers its next call');
    is(count_lines($ex, qr/msg="image unpacked" image=oci:idle:v1 /), 1,
       'without being unpacked again');
};

done_testing();
