# Function images pulled from a registry (Debian's docker-registry on
# 127.0.0.1, images pushed with skopeo): by tag and by digest, OCI and
# Docker v2s2 manifests, a multi-arch index; one pull however many calls
# wait; blobs checked; registries not allowed, or on a private address
# without being listed, refused; a registry that goes away; basic
# credentials and bearer tokens (a front the test serves).
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request wait_until tmpdir spew slurp
              registry_start);
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use Test::More;

my $reg = registry_start();
my $host = $reg->host;
my $json = JSON::PP->new->canonical;
my $work = tmpdir() . '/images';

# An OCI layout whose function prints $word.
sub image {
    my ($name, $word) = @_;
    FnImage::build("$work/$name", tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c', "echo $word"] },
        layers => [ FnImage::busybox_layer(),
                    [ [ 'fn', dir => 1 ],
                      [ "fn/$name", data => "$word\n", mode => 0644 ] ] ]);
    return "$work/$name";
}

my $ex = executor_start(allowed_registries => $host,
                        insecure_registries => $host,
                        registry_timeout => '10s',
                        registry_tag_ttl => '2s');

my $n = 0;
sub call {
    my ($e, $image) = @_;
    my $r = unix_request($e->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => sprintf('01ARZ3NDEKTSV4RRFFQ69G%04d', $n++),
                     'Fn-Method' => 'GET',
                     'Fn-Request-Url' => 'http://example.com/r/demo/hello',
                     'Fn-Route' => $json->encode({ app => 'demo',
                                                   path => '/hello',
                                                   image => $image }) },
        timeout => 60);
    $r->{error} = $r->{json}{error}{message} // '';
    return $r;
}

subtest 'by tag: OCI and Docker v2s2 manifests' => sub {
    my $src = image('hello', 'hello-from-the-registry');
    $reg->push($src, 'v1', 'team/hello:v1');
    $reg->push($src, 'v1', 'team/hello-v2s2:v1', format => 'v2s2');
    my $r = call($ex, "$host/team/hello:v1");
    is($r->{status}, 200, 'an OCI manifest: 200') or diag($r->{body});
    is($r->{body}, "hello-from-the-registry\n", '  the function answers');
    $r = call($ex, "$host/team/hello-v2s2:v1");
    is($r->{status}, 200, 'a Docker v2s2 manifest: 200') or diag($r->{body});
    is($r->{body}, "hello-from-the-registry\n", '  the same function');
};

subtest 'by digest' => sub {
    my $d = $reg->digest('team/hello', 'v1');
    like($d, qr/^sha256:[0-9a-f]{64}$/, 'the registry names the digest');
    my $r = call($ex, "$host/team/hello\@$d");
    is($r->{status}, 200, 'a call by digest: 200') or diag($r->{body});
    my $wrong = 'sha256:' . ('0' x 64);
    $r = call($ex, "$host/team/hello\@$wrong");
    is($r->{status}, 502, 'an unknown digest: 502');
    like($r->{error}, qr/team\/hello\@sha256:0+".*answered 404/,
         '  naming the image and what the registry said');
};

subtest 'a multi-arch index: this host\'s platform' => sub {
    my ($amd, $arm) = (image('multi-amd64', 'amd64'),
                       image('multi-arm64', 'arm64'));
    my $dir = "$work/multi";
    make_path("$dir/blobs/sha256");
    my @manifests;
    for my $p ([ $amd, 'amd64' ], [ $arm, 'arm64' ]) {
        my ($src, $arch) = @$p;
        system("cp $src/blobs/sha256/* $dir/blobs/sha256/") == 0 or die;
        my $m = $json->decode(slurp("$src/index.json"))->{manifests}[0];
        delete $m->{annotations};
        $m->{platform} = { os => 'linux', architecture => $arch };
        push @manifests, $m;
    }
    my $index = $json->encode({ schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.index.v1+json',
        manifests => \@manifests });
    require Digest::SHA;
    my $hex = Digest::SHA::sha256_hex($index);
    spew("$dir/blobs/sha256/$hex", $index);
    spew("$dir/oci-layout", '{"imageLayoutVersion":"1.0.0"}');
    spew("$dir/index.json", $json->encode({ schemaVersion => 2,
        manifests => [ { mediaType => 'application/vnd.oci.image.index.v1+json',
                         digest => "sha256:$hex", size => length $index,
                         annotations => {
                             'org.opencontainers.image.ref.name' => 'v1' } } ] }));
    $reg->push($dir, 'v1', 'team/multi:v1', all => 1);
    my $r = call($ex, "$host/team/multi:v1");
    is($r->{status}, 200, 'an index: 200') or diag($r->{body});
    my $arch = `uname -m` =~ /aarch64/ ? 'arm64' : 'amd64';
    is($r->{body}, "$arch\n", "  the manifest for linux/$arch ran");
};

subtest 'concurrent first calls share one pull' => sub {
    $reg->push(image('shared', 'shared'), 'v1', 'team/shared:v1');
    my $before = () = $reg->log =~ m{GET /v2/team/shared/blobs/}g;
    is($before, 0, 'nothing fetched yet');
    my @kids;
    for (1 .. 4) {
        my $pid = fork() // die;
        if ($pid == 0) {
            my $r = call($ex, "$host/team/shared:v1");
            POSIX::_exit($r->{status} == 200 ? 0 : 1);
        }
        $n++;       # each child its own call id
        push @kids, $pid;
    }
    my $ok = 0;
    for (@kids) { waitpid($_, 0); $ok++ if $? == 0 }
    is($ok, 4, 'four calls at once: all 200');
    # the registry logs a request once it is answered: soon after
    my ($log, %fetches);
    wait_until(5, sub {
        ($log, %fetches) = ($reg->log);
        $fetches{$1}++
            while $log =~ m{"GET /v2/team/shared/blobs/(sha256:[0-9a-f]+)}g;
        return keys %fetches >= 2;
    });
    # (the busybox layer: pulled before, with an image that has it too)
    ok(keys %fetches >= 2, 'the config and the function\'s layer were fetched')
        or diag($log);
    is_deeply([ grep { $fetches{$_} != 1 } sort keys %fetches ], [],
              '  each blob once');
};

subtest 'a blob that is not what its digest says is refused' => sub {
    my $src = image('tampered', 'tampered');
    $reg->push($src, 'v1', 'team/tampered:v1');
    # the layer that differs from other images': the function's own
    my $m = $json->decode(slurp("$src/blobs/sha256/"
        . substr($json->decode(slurp("$src/index.json"))->{manifests}[0]{digest}, 7)));
    my $layer = $m->{layers}[-1]{digest};
    my ($hex) = $layer =~ /^sha256:(.*)$/;
    my $file = $reg->dir . "/data/docker/registry/v2/blobs/sha256/"
             . substr($hex, 0, 2) . "/$hex/data";
    ok(-f $file, 'the registry holds the layer');
    my $bytes = slurp($file);
    substr($bytes, 100, 1) = chr(ord(substr($bytes, 100, 1)) ^ 1);
    spew($file, $bytes);
    my $r = call($ex, "$host/team/tampered:v1");
    is($r->{status}, 502, 'a changed byte: 502');
    like($r->{error}, qr/does not match its digest/, '  saying why');
    ok(!-e $ex->dir . "/state/registry/blobs/sha256/$hex",
       '  and nothing of it is kept');
};

subtest 'a stored blob a crash damaged is fetched again' => sub {
    my $src = image('damaged', 'damaged');
    $reg->push($src, 'v1', 'team/damaged:v1');
    is(call($ex, "$host/team/damaged:v1")->{status}, 200, 'pulled and run');
    my $m = $json->decode(slurp("$src/blobs/sha256/"
        . substr($json->decode(slurp("$src/index.json"))->{manifests}[0]{digest}, 7)));
    my ($hex) = $m->{config}{digest} =~ /^sha256:(.*)$/;
    my $file = $ex->dir . "/state/registry/blobs/sha256/$hex";
    my $bytes = slurp($file);
    substr($bytes, 0, 1) = substr($bytes, 0, 1) eq '{' ? '[' : '{';
    spew($file, $bytes);
    sleep 1.2;      # past the executor's cache of resolved images
    my $r = call($ex, "$host/team/damaged:v1");
    is($r->{status}, 502, 'its config changed on disk: 502');
    like($r->{error}, qr/does not match its digest/, '  saying why');
    ok(!-e $file, '  and the damaged blob is gone');
    $r = call($ex, "$host/team/damaged:v1");
    is($r->{status}, 200, 'the next call fetches it again') or diag($r->{body});
};

subtest 'registries that are not allowed' => sub {
    my $r = call($ex, "127.0.0.2:$reg->{port}/team/hello:v1");
    is($r->{status}, 502, 'a registry not in allowed_registries: 502');
    like($r->{error}, qr/127\.0\.0\.2:\d+ is not in this executor's allowed_registries/,
         '  naming it');
    my $db = FnTest::stack_env() ? FnTest::stack_env()->{FUNCTIONS_DB_PORT}
                                 : 3306;
    $r = call($ex, "127.0.0.1:$db/functions/x:1");
    is($r->{status}, 502, 'the database port: refused the same way');
    like($r->{error}, qr/not in this executor's allowed_registries/,
         '  before any connection');
    # the default registry is allowed by default: on a loopback address
    # it still needs to be listed
    my $e2 = executor_start(default_registry => "localhost:$reg->{port}",
                            insecure_registries => "localhost:$reg->{port}");
    $r = call($e2, 'team/hello:v1');
    is($r->{status}, 502, 'a default registry on loopback, not listed: 502');
    like($r->{error}, qr/loopback, private or link-local address/,
         '  naming why') or diag($r->{error});
    $e2->stop;
};

subtest 'proxies from the environment are not used' => sub {
    # were libcurl to take them, the pull would go to this dead proxy, and
    # the address check would see the proxy's address, not the registry's
    local $ENV{http_proxy} = 'http://127.0.0.1:1';
    local $ENV{HTTPS_PROXY} = 'http://127.0.0.1:1';
    local $ENV{ALL_PROXY} = 'http://127.0.0.1:1';
    my $e = executor_start(allowed_registries => $host,
                           insecure_registries => $host);
    my $r = call($e, "$host/team/hello:v1");
    is($r->{status}, 200, 'pulled straight from the registry') or diag($r->{body});
    $e->stop;
};

subtest 'an image over layer_max_bytes or image_max_bytes is not fetched' => sub {
    # two layers of 40 KiB of noise: each within 64k, both over it
    my $src = "$work/big";
    FnImage::build($src, tag => 'v1', config => { Cmd => ['/bin/true'] },
        layers => [ map { my $i = $_;
                          [ [ "noise$i", data => join('', map { chr(int(rand(256))) } 1 .. 40960) ] ] }
                    1 .. 2 ]);
    $reg->push($src, 'v1', 'team/big:v1');
    my $e = executor_start(allowed_registries => $host,
                           insecure_registries => $host,
                           image_max_bytes => '64k', layer_max_bytes => '64k',
                           image_store_max_bytes => '64k');
    my $r = call($e, "$host/team/big:v1");
    is($r->{status}, 502, 'over image_max_bytes: 502');
    like($r->{error}, qr/blobs take \d+ bytes, more than image_max_bytes/,
         '  saying so');
    $e->stop;
    # and one of 100 KiB
    FnImage::build("$work/huge", tag => 'v1', config => { Cmd => ['/bin/true'] },
        layers => [ [ [ 'noise', data => join('', map { chr(int(rand(256))) } 1 .. 102400) ] ] ]);
    $reg->push("$work/huge", 'v1', 'team/huge:v1');
    $e = executor_start(allowed_registries => $host,
                        insecure_registries => $host,
                        layer_max_bytes => '64k');
    $r = call($e, "$host/team/huge:v1");
    is($r->{status}, 502, 'a layer over layer_max_bytes: 502');
    like($r->{error}, qr/layer 1 of 1 takes \d+ bytes, more than layer_max_bytes/,
         '  saying so');
    unlike($reg->log, qr{GET /v2/team/(big|huge)/blobs/}, 'no blob was fetched');
    $e->stop;
};

subtest 'an image that pulls but does not unpack: not pulled again at once' => sub {
    my $src = "$work/zeros";
    FnImage::build($src, tag => 'v1', config => { Cmd => ['/bin/true'] },
        layers => [ [ [ 'zeros', data => "\0" x (4 << 20), mode => 0644 ] ] ]);
    $reg->push($src, 'v1', 'team/zeros:v1');
    my $e = executor_start(allowed_registries => $host,
                           insecure_registries => $host,
                           image_max_bytes => '1m', layer_max_bytes => '1m',
                           image_store_max_bytes => '1m');
    my $r = call($e, "$host/team/zeros:v1");
    is($r->{status}, 502, 'small blobs, 4 MiB unpacked: 502');
    like($r->{error}, qr/unpacks to more than layer_max_bytes/, '  saying why')
        or diag($r->{error});
    $r = call($e, "$host/team/zeros:v1");
    is($r->{status}, 502, 'the next call: 502 too');
    like($r->{error}, qr/more than layer_max_bytes.*\(this failed \d+ ms ago; tried again in \d+ ms\)/,
         '  the same error, with the pause') or diag($r->{error});
    my $fetched = sub { scalar(() = $reg->log =~ m{GET /v2/team/zeros/blobs/}g) };
    wait_until(5, sub { $fetched->() >= 2 });
    is($fetched->(), 2, '  its config and layer were fetched once');
    opendir(my $d, $e->dir . '/state/registry/blobs/sha256') or die;
    is_deeply([ grep { !/^\./ } readdir $d ], [], 'no blob of it is kept');
    $e->stop;
};

subtest 'a registry that goes away, and comes back' => sub {
    $reg->push(image('later', 'later'), 'v1', 'team/later:v1');
    $reg->stop;
    my $r = call($ex, "$host/team/later:v1");
    is($r->{status}, 502, 'registry down: 502');
    like($r->{error}, qr/team\/later:v1.*(Couldn't connect|connect)/i,
         '  with the reason') or diag($r->{error});
    $reg->start;
    ok(wait_until(20, sub { call($ex, "$host/team/later:v1")->{status} == 200 }),
       'back: a call after the pause pulls it');
};

# The metrics of the executor's /metrics, by name (with labels).
sub prom {
    my ($e) = @_;
    my %v;
    for (split /\n/, unix_request($e->socket, 'GET', '/metrics')->{body}) {
        next if /^#/;
        $v{$1} = $2 if /^(\S+) (\S+)$/;
    }
    return \%v;
}

# Runs $code in $n children at once; returns their results (JSON).
sub at_once {
    my ($count, $code) = @_;
    my $dir = tmpdir();
    my @kids;
    for my $i (1 .. $count) {
        my $pid = fork() // die;
        if ($pid == 0) {
            spew("$dir/kid-$i", $json->encode($code->()));
            POSIX::_exit(0);
        }
        $n++;       # each child its own call id
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    return map { $json->decode(slurp("$dir/kid-$_")) } 1 .. @kids;
}

subtest 'a registry that fails: one pull for the calls waiting, then a pause' => sub {
    my $f = front(sub { sleep 0.3; answer('503 Service Unavailable') });
    my $fh = $f->{host};
    my $e = executor_start(allowed_registries => $fh, insecure_registries => $fh);
    my @r = at_once(3, sub {
        my $r = call($e, "$fh/team/down:v1");
        return { status => $r->{status}, error => $r->{error} };
    });
    is_deeply([ map { $_->{status} } @r ], [ 502, 502, 502 ],
              'three calls at once: 502 each');
    is(scalar(grep { $_->{error} =~ /team\/down:v1.*answered 503/ } @r), 3,
       '  naming the image and what the registry said')
        or diag(explain(\@r));
    my $asked = () = slurp($f->{log}) =~ m{^/v2/team/down/manifests/v1 }mg;
    is($asked, 3, '  one pull for them all: its three tries');
    my $r = call($e, "$fh/team/down:v1");
    is($r->{status}, 502, 'a call right after: 502');
    like($r->{error}, qr/answered 503.*\(this failed \d+ ms ago; tried again in \d+ ms\)/,
         '  saying when the next pull is') or diag($r->{error});
    $asked = () = slurp($f->{log}) =~ m{^/v2/team/down/manifests/v1 }mg;
    is($asked, 3, '  and the registry was not asked');
    my $m = prom($e);
    is($m->{functions_image_pull_failures_total}, 1, 'one failed pull counted');
    is($m->{functions_image_pulls_total}, 0, '  and no pull');
    $e->stop;
    kill 'TERM', $f->{pid};
};

subtest 'a request that fails for a moment is tried again' => sub {
    $reg->push(image('flaky', 'flaky'), 'v1', 'team/flaky:v1');
    # the manifest's first request, and the first blob's: 503
    my $f = front(sub { $_[2] == 1 || $_[2] == 3
                        ? answer('503 Service Unavailable') : undef });
    my $fh = $f->{host};
    my $e = executor_start(allowed_registries => $fh, insecure_registries => $fh);
    my $r = call($e, "$fh/team/flaky:v1");
    is($r->{status}, 200, 'the pull went through') or diag($r->{body});
    is($r->{body}, "flaky\n", '  and the function ran');
    my $asked = () = slurp($f->{log}) =~ m{^/v2/team/flaky/manifests/v1 }mg;
    is($asked, 2, '  the manifest asked twice');
    my $m = prom($e);
    is($m->{functions_image_pulls_total}, 1, 'one pull counted');
    is($m->{functions_image_pull_failures_total}, 0, '  no failure');
    cmp_ok($m->{functions_image_pull_bytes_total}, '>', 100_000,
           '  the bytes it fetched');
    is($m->{functions_image_pull_seconds_count}, 1, '  and its time');
    $e->stop;
    kill 'TERM', $f->{pid};
};

subtest 'the wait for a pull counts in wait_time' => sub {
    $reg->push(image('slow', 'slow'), 'v1', 'team/slow:v1');
    my $f = front(sub { sleep 1.5 if $_[0] =~ m{/manifests/}; undef });
    my $fh = $f->{host};
    my $e = executor_start(allowed_registries => $fh, insecure_registries => $fh);
    is(call($e, "$fh/team/slow:v1")->{status}, 200, 'a pull of 1.5 s or more');
    my $m = prom($e);
    cmp_ok($m->{'functions_call_wait_seconds_sum{kind="sync"}'}, '>=', 1.5,
           '  the call waited as long');
    $e->stop;
    kill 'TERM', $f->{pid};
};

subtest 'calls waiting for a slow registry do not hold up other images' => sub {
    my $go = tmpdir() . '/go';
    # manifests wait for the test's word
    my $f = front(sub { sleep 0.05 until -e $go; undef });
    my $fh = $f->{host};
    # six pulls: more than libuv's default pool of 4, and than the slots
    my $e = executor_start(allowed_registries => $fh, insecure_registries => $fh,
                           max_sandboxes => 2, queue_timeout => '20s');
    FnImage::build($e->dir . '/images/local', tag => 'v1',
        config => { Cmd => ['/bin/sh', '-c', 'echo local'] },
        layers => [ FnImage::busybox_layer() ]);
    my $src = image('held', 'held');
    $reg->push($src, 'v1', "team/held$_:v1") for 1 .. 6;
    my $dir = tmpdir();
    my @kids;
    for my $i (1 .. 6) {
        my $pid = fork() // die;
        if ($pid == 0) {
            my $r = call($e, "$fh/team/held$i:v1");
            spew("$dir/held-$i", $r->{status});
            spew("$dir/held-$i.err", $r->{error});
            POSIX::_exit(0);
        }
        $n++;       # each child its own call id
        push @kids, $pid;
    }
    ok(wait_until(20, sub { (() = slurp($f->{log}) =~ m{/manifests/}g) >= 6 }),
       'six pulls wait on the registry');
    my $r = call($e, 'oci:local:v1');
    is($r->{status}, 200, 'meanwhile, a new image runs: the waiting calls '
       . 'hold no thread and no slot') or diag($r->{body});
    ok(!-e $go, '  (the pulls still waiting)');
    spew($go, '');
    waitpid($_, 0) for @kids;
    is(join(' ', map { slurp("$dir/held-$_") } 1 .. 6), '200 200 200 200 200 200',
       'then the six run')
        or diag(join("\n", map { slurp("$dir/held-$_.err") } 1 .. 6));
    $e->stop;
    kill 'TERM', $f->{pid};
};

# The hex digests of an OCI layout's manifest, config and layers.
sub digests_of {
    my ($src) = @_;
    my $mhex = substr($json->decode(slurp("$src/index.json"))->{manifests}[0]{digest}, 7);
    my $m = $json->decode(slurp("$src/blobs/sha256/$mhex"));
    return ($mhex, map { substr($_->{digest}, 7) } $m->{config}, @{ $m->{layers} });
}

subtest 'a pull fetches its blobs over kept connections' => sub {
    my $src = "$work/many";
    FnImage::build($src, tag => 'v1', config => { Cmd => ['/bin/true'] },
        layers => [ map { my $i = $_; [ [ "f$i", data => "layer $i\n" ] ] } 1 .. 8 ]);
    $reg->push($src, 'v1', 'team/many:v1');
    my $e = executor_start(allowed_registries => $host,
                           insecure_registries => $host);
    call($e, "$host/team/many:v1");
    my (%ports, $n);
    ok(wait_until(5, sub {
        ($n, %ports) = (0);
        for (split /\n/, $reg->log) {
            next unless m{http\.request\.method=GET http\.request\.remoteaddr="127\.0\.0\.1:(\d+)" http\.request\.uri="?/v2/team/many/blobs/.*useragent=functions-executor};
            $n++;
            $ports{$1}++;
        }
        return $n == 9;
    }), 'the config and eight layers fetched') or diag("$n requests");
    cmp_ok(scalar(keys %ports), '<=', 4,
           '  over at most one connection per fetcher (4), not one each')
        or diag(join(' ', sort keys %ports));
    $e->stop;
};

subtest 'two executors pull on their own' => sub {
    my (undef, @blobs) = digests_of("$work/shared");
    my $fetched = sub {
        my $log = $reg->log;
        return join ' ', map { scalar(() = $log =~ m{"GET /v2/team/shared/blobs/sha256:$_ }g) } @blobs;
    };
    my $before = $fetched->();
    my $e2 = executor_start(allowed_registries => $host,
                            insecure_registries => $host);
    is(call($e2, "$host/team/shared:v1")->{status}, 200,
       'another executor runs an image the first pulled');
    # the registry logs a request once it is answered: soon after
    my $want = join ' ', map { $_ + 1 } split / /, $before;
    ok(wait_until(5, sub { $fetched->() eq $want }),
       '  having fetched its config and layers itself, once each')
        or diag("before: $before, after: " . $fetched->());
    $e2->stop;
};

subtest 'under image_store_max_bytes, an evicted image takes its blobs along' => sub {
    my %src = map { $_ => image("evict-$_", "evict-$_") } qw(a b);
    $reg->push($src{$_}, 'v1', "team/evict-$_:v1") for qw(a b);
    my %d = map { $_ => [ digests_of($src{$_}) ] } qw(a b);
    my $e = executor_start(allowed_registries => $host,
                           insecure_registries => $host,
                           sandbox_idle_timeout => '0',
                           image_store_max_bytes => '5m',
                           image_max_bytes => '4m', layer_max_bytes => '4m');
    my $blobs = $e->dir . '/state/registry/blobs/sha256';
    my $have = sub { join ' ', map { -e "$blobs/$_" ? 1 : 0 } @_ };
    is(call($e, "$host/team/evict-a:v1")->{body}, "evict-a\n", 'image a ran');
    is($have->(@{ $d{a} }), '1 1 1 1', '  its manifest, config and layers kept');
    my $m = prom($e);
    cmp_ok($m->{functions_image_store_bytes}, '>',
           $m->{functions_image_pull_bytes_total},
           '  the store counts its tree and its blobs');
    is(call($e, "$host/team/evict-b:v1")->{body}, "evict-b\n", 'image b ran');
    ok(wait_until(10, sub { !-e "$blobs/$d{a}[0]" }),
       'the store over its size: a\'s manifest is removed');
    my ($am, $ac, $busybox, $al) = @{ $d{a} };
    is($have->($ac, $al), '0 0', '  its config and own layer too');
    is($have->(@{ $d{b} }), '1 1 1 1',
       '  b\'s blobs stay, with the layer both use');
    is($d{b}[2], $busybox, '  (the busybox layer both use)');
    ok(!-e $e->dir . "/state/registry/kept/$am", '  a is no longer kept');
    ok(-e $e->dir . "/state/registry/kept/$d{b}[0]", '  b is');
    my $before = () = $reg->log =~ m{GET /v2/team/evict-a/blobs/sha256:$al}g;
    is($before, 1, 'a\'s layer was fetched once');
    is(call($e, "$host/team/evict-a:v1")->{body}, "evict-a\n", 'a runs again');
    my $fetched = sub { scalar(() = $reg->log =~ m{GET /v2/team/evict-a/blobs/sha256:$al}g) };
    ok(wait_until(5, sub { $fetched->() == $before + 1 }),
       '  its layer pulled again');
    my $after = $fetched->();
    $e->stop;
    # a restart, on the same state: what is kept stays
    $e = executor_start(allowed_registries => $host,
                        insecure_registries => $host,
                        sandbox_idle_timeout => '0',
                        image_store_max_bytes => '5m',
                        image_max_bytes => '4m', layer_max_bytes => '4m',
                        state_dir => $e->dir . '/state');
    is(call($e, "$host/team/evict-a:v1")->{body}, "evict-a\n",
       'after a restart: a runs');
    is($fetched->(), $after, '  from the blobs it kept');
    $e->stop;
};

subtest 'pre-pull: POST /images, then calls run while the registry is away' => sub {
    $reg->push(image('pre', 'pre-pulled'), 'v1', 'team/pre:v1');
    my $r = unix_request($ex->socket, 'POST', '/images',
                         body => $json->encode({ image => "$host/team/pre:v1" }),
                         timeout => 60);
    is($r->{status}, 200, 'POST /images: 200') or diag($r->{body});
    like($r->{json}{digest} // '', qr/^sha256:[0-9a-f]{64}$/, '  with the digest');
    is($r->{json}{unpacked}, JSON::PP::true, '  unpacked by it');
    $r = unix_request($ex->socket, 'POST', '/images',
                      body => $json->encode({ image => "$host/team/pre:v1" }));
    is($r->{json}{unpacked}, JSON::PP::false, 'again: already there');
    is(unix_request($ex->socket, 'POST', '/images', body => '{"img":"x"}')->{status},
       400, 'a body without "image": 400');
    is(unix_request($ex->socket, 'GET', '/images')->{status}, 405, 'GET: 405');
    $r = unix_request($ex->socket, 'POST', '/images',
                      body => $json->encode({ image => 'registry.example.com/x:1' }));
    is($r->{status}, 400, 'a registry not allowed: 400');
    $reg->stop;
    sleep 2.5;      # past registry_tag_ttl
    $r = call($ex, "$host/team/pre:v1");
    is($r->{status}, 200, 'registry away, tag past its TTL: the last digest serves')
        or diag($r->{body});
    is($r->{body}, "pre-pulled\n", '  the pre-pulled image');
    $reg->start;
};

subtest 'a registry that wants credentials (basic)' => sub {
    my $priv = registry_start(htpasswd => { ci => 'pull s3cret' });
    my $ph = $priv->host;
    $priv->push(image('private', 'private'), 'v1', 'team/private:v1');
    my $anon = executor_start(allowed_registries => $ph,
                              insecure_registries => $ph);
    my $r = call($anon, "$ph/team/private:v1");
    is($r->{status}, 502, 'no credentials for it: 502');
    like($r->{error}, qr/asks for credentials, and registry_credentials_file has none for \Q$ph\E/,
         '  saying so');
    $anon->stop;

    my $file = tmpdir() . '/registry.creds';
    spew($file, "# test\n$ph ci pull s3cret\n");
    chmod 0644, $file;
    ok(!eval { executor_start(registry_credentials_file => $file); 1 },
       'a credentials file others can read: the executor does not start');
    like($@, qr/not be readable by others/, '  saying why');
    chmod 0600, $file;
    my $e = executor_start(allowed_registries => $ph,
                           insecure_registries => $ph,
                           registry_credentials_file => $file);
    $r = call($e, "$ph/team/private:v1");
    is($r->{status}, 200, 'with them: 200') or diag($r->{body});
    is($r->{body}, "private\n", '  the private image ran');
    unlike(slurp($e->dir . '/executor.log'), qr/s3cret|Y2k6cHVsbCBzM2NyZXQ/,
           '  and the password is in no log line');
    $e->stop;

    spew($file, "$ph ci wrong\n");
    chmod 0600, $file;
    $e = executor_start(allowed_registries => $ph, insecure_registries => $ph,
                        registry_credentials_file => $file);
    $r = call($e, "$ph/team/private:v1");
    is($r->{status}, 502, 'a wrong password: 502');
    like($r->{error}, qr/answered 401/, '  the registry\'s answer named');
    $e->stop;
    $priv->stop;
};

# A server on a port of its own in front of $reg.  Every request's path
# and Authorization go to its log, one line each; $answer->($path, $auth,
# $nth, $port) (the request's number, from 1; the front's port) returns
# the answer to send, or undef to pass the request on to $reg.
sub front {
    my ($answer) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                    Listen => 16, ReuseAddr => 1) or die $!;
    my $port = $srv->sockport;
    my $log = tmpdir() . "/front-$port.log";
    spew($log, '');
    my $pid = fork() // die;
    if ($pid == 0) {
        require Fcntl;
        while (my $c = $srv->accept) {
            my $kid = fork();
            if (!defined $kid || $kid) { close $c; next }
            my $head = '';
            while (defined(my $l = <$c>)) { $head .= $l; last if $l eq "\r\n" }
            my ($path) = $head =~ m{^GET (\S+)};
            my ($auth) = $head =~ /^Authorization: (.*?)\r$/mi;
            open(my $lf, '+>>', $log) or POSIX::_exit(1);
            flock($lf, Fcntl::LOCK_EX());
            print $lf ($path // '-'), ' ', ($auth // '-'), "\n";
            seek($lf, 0, 0);
            my $nth = () = <$lf>;
            close $lf;
            my $a = $answer->($path // '', $auth // '', $nth, $port);
            if (defined $a) {
                print $c $a;
            } else {
                (my $fwd = $head) =~ s/^Authorization:.*\r\n//mi;
                $fwd =~ s/^Connection:.*\r\n//mi;
                $fwd =~ s/\r\n\r\n$/\r\nConnection: close\r\n\r\n/;
                my $up = IO::Socket::INET->new(PeerAddr => $reg->host)
                    or POSIX::_exit(1);
                print $up $fwd;
                while (sysread($up, my $buf, 65536)) { print $c $buf }
            }
            close $c;
            POSIX::_exit(0);
        }
        POSIX::_exit(0);
    }
    close $srv;
    return { port => $port, pid => $pid, log => $log,
             host => "127.0.0.1:$port" };
}

sub answer {
    my ($status, $head, $body) = @_;
    $body //= '';
    return "HTTP/1.1 $status\r\n" . ($head // '')
         . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
}

# A front that wants Bearer tokens: GET /token (here, or on
# $o{realm_port}) hands out a token; with $o{creds} ("user:password") the
# token wants those in Basic.
sub token_front {
    my (%o) = @_;
    my $realm_port = $o{realm_port};
    my $want = $o{creds} ? 'Basic ' . do { require MIME::Base64;
                                           MIME::Base64::encode_base64($o{creds}, '') }
                         : undef;
    return front(sub {
        my ($path, $auth, undef, $port) = @_;
        if ($path =~ m{^/token}) {
            return answer('401 Unauthorized')
                if defined $want && $auth ne $want;
            return answer('200 OK', "Content-Type: application/json\r\n",
                          '{"token":"tok-123"}');
        }
        return undef if $auth eq 'Bearer tok-123';
        my $realm = "http://127.0.0.1:" . ($realm_port // $port) . "/token";
        return answer('401 Unauthorized', "WWW-Authenticate: Bearer "
            . "realm=\"$realm\",service=\"front\",scope=\"repository:x:pull\"\r\n");
    });
}

subtest 'a registry that wants a bearer token' => sub {
    $reg->push(image('tokened', 'tokened'), 'v1', 'team/tokened:v1');
    my $file = tmpdir() . '/bearer.creds';
    # the token realm on the registry itself: the credentials go with it
    my $f = token_front(creds => 'ci:tok s3cret');
    my $fh = "127.0.0.1:$f->{port}";
    spew($file, "$fh ci tok s3cret\n");
    chmod 0600, $file;
    my $e = executor_start(allowed_registries => $fh, insecure_registries => $fh,
                           registry_credentials_file => $file);
    my $r = call($e, "$fh/team/tokened:v1");
    is($r->{status}, 200, 'a token earned with the credentials: 200')
        or diag($r->{body});
    my $log = slurp($f->{log});
    like($log, qr{^/token\?service=front&scope=repository%3Ax%3Apull Basic }m,
         '  the realm, on the registry, was asked with them') or diag($log);
    like($log, qr{^/v2/team/tokened/blobs/\S+ Bearer tok-123$}m,
         '  and the blobs with the token');
    $e->stop;
    kill 'TERM', $f->{pid};

    # the realm on another host (another port): it gets no credentials
    my $srv = token_front();                    # its /token: the realm
    my $t = token_front(realm_port => $srv->{port});
    my $realm_front = "127.0.0.1:$srv->{port}";
    my $th = "127.0.0.1:$t->{port}";
    spew($file, "$th ci tok s3cret\n");
    chmod 0600, $file;
    $e = executor_start(allowed_registries => "$th,$realm_front",
                        insecure_registries => $th,
                        registry_credentials_file => $file);
    $r = call($e, "$th/team/tokened:v1");
    is($r->{status}, 200, 'a token from a realm on another port: 200')
        or diag($r->{body});
    like(slurp($srv->{log}), qr{^/token\S* -$}m,
         '  the realm got no credentials') or diag(slurp($srv->{log}));
    unlike(slurp($srv->{log}), qr{Basic}, '  none at all');
    $e->stop;
    kill 'TERM', $t->{pid}, $srv->{pid};

    # a token service on a host of its own (Docker Hub's auth.docker.io)
    # with credentials of its own in the file: those, to it only
    $srv = token_front(creds => 'ru:realm pass');
    $t = token_front(realm_port => $srv->{port});
    $realm_front = "127.0.0.1:$srv->{port}";
    $th = "127.0.0.1:$t->{port}";
    spew($file, "$th ci tok s3cret\n$realm_front ru realm pass\n");
    chmod 0600, $file;
    $e = executor_start(allowed_registries => "$th,$realm_front",
                        insecure_registries => $th,
                        registry_credentials_file => $file);
    $r = call($e, "$th/team/tokened:v1");
    is($r->{status}, 200, 'a realm with credentials of its own: 200')
        or diag($r->{body});
    require MIME::Base64;
    my $b64 = MIME::Base64::encode_base64('ru:realm pass', '');
    like(slurp($srv->{log}), qr{^/token\S* Basic \Q$b64\E$}m,
         '  the realm got its own') or diag(slurp($srv->{log}));
    unlike(slurp($srv->{log}) . slurp($t->{log}),
           qr{\Q@{[ MIME::Base64::encode_base64('ci:tok s3cret', '') ]}\E},
           '  and the registry\'s went nowhere');
    unlike(slurp($t->{log}), qr{\Q$b64\E}, '  nor the realm\'s to the registry');
    $e->stop;
    kill 'TERM', $t->{pid}, $srv->{pid};
};

subtest 'a moved tag is seen after registry_tag_ttl' => sub {
    $reg->push(image('moving-a', 'first'), 'v1', 'team/moving:v1');
    is(call($ex, "$host/team/moving:v1")->{body}, "first\n", 'the first image');
    $reg->push(image('moving-b', 'second'), 'v1', 'team/moving:v1');
    is(call($ex, "$host/team/moving:v1")->{body}, "first\n",
       'within the TTL: the digest it had');
    ok(wait_until(10, sub { call($ex, "$host/team/moving:v1")->{body} eq "second\n" }),
       'after it: the moved tag');
};

done_testing();
