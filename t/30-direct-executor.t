# Direct dispatch, the executor's side: nginx's workers lease hot
# instances of http routes over direct_listen (a SOCK_SEQPACKET socket) and
# get each instance's socket; the executor keeps their lifecycle.  Here a
# test plays the worker.
use strict;
use warnings;
use lib 't/lib', 'scripts/lib';

use FnImage;
use FnTest qw(executor_start unix_request wait_until tmpdir top);
use IO::Select;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Socket qw(SOCK_SEQPACKET SOL_SOCKET SCM_RIGHTS);
use Socket::MsgHdr qw(sendmsg recvmsg);
use Test::More;
use Time::HiRes qw(time sleep);

my $json = JSON::PP->new->canonical;
my $tmp = tmpdir();

system('cc', '-static', '-O2', '-Wall', '-o', "$tmp/hot", top() . '/t/fn/hot.c') == 0
    or BAIL_OUT('cannot build t/fn/hot.c');

my $ex = executor_start(direct_listen => "$tmp/direct.sock",
                        max_sandboxes => 4, queue_timeout => '3s');
FnImage::build($ex->dir . '/images/hot', tag => 'v1',
    config => { Cmd => ['/fn/hot'] },
    layers => [ [ [ 'fn', dir => 1 ],
                  [ 'fn/hot', file => "$tmp/hot", mode => 0755 ] ] ]);

my $n = 0;
sub ulid { sprintf('01ARZ3NDEKTSV4RRFFQ69M%04d', $n++) }

sub route {
    my (%o) = @_;
    return $json->encode({ app => 'demo', path => '/hot', image => 'oci:hot:v1',
                           format => 'http', timeout => 10,
                           max_concurrency => 1, idle_timeout => 30, %o });
}

sub head_of {
    my ($id, $route) = @_;
    return "POST /call HTTP/1.1\r\nHost: executor\r\nFn-Call-Id: $id\r\n"
         . "Fn-Method: POST\r\nFn-Request-Url: http://example.com/r/demo/hot\r\n"
         . "Fn-Route: $route\r\nContent-Length: 0\r\n\r\n";
}

sub worker {
    my $s = IO::Socket::UNIX->new(Type => SOCK_SEQPACKET,
                                  Peer => "$tmp/direct.sock")
        or die "cannot connect to direct_listen: $!";
    return $s;
}

# The next message from the executor, and a descriptor with it: (text, fh).
sub receive {
    my ($s, $timeout) = @_;
    return () unless IO::Select->new($s)->can_read($timeout // 20);
    my $m = Socket::MsgHdr->new(buflen => 70000, controllen => 64);
    defined(recvmsg($s, $m, 0)) or return ();
    my $text = $m->buf;
    return ('') if $text eq '';
    my ($fh);
    my @c = $m->cmsghdr;
    if (@c && $c[0] == SOL_SOCKET && $c[1] == SCM_RIGHTS) {
        my $fd = unpack('i', $c[2]);
        open($fh, '+<&=', $fd) or die "fdopen: $!";
        binmode $fh;
    }
    return ($text, $fh);
}

sub lease {
    my ($s, $route) = @_;
    my $id = ulid();
    $s->send("lease\n" . head_of($id, $route // route())) or die "send: $!";
    my ($text, $fh) = receive($s);
    return { id => $id, text => $text // '', fh => $fh };
}

# One call on a leased instance's socket, as nginx writes it.
sub call_on {
    my ($fh, %o) = @_;
    my $body = $o{body} // 'hello';
    my $h = join('', map { "$_: $o{headers}{$_}\r\n" } sort keys %{ $o{headers} // {} });
    my $req = "POST /r/demo/hot HTTP/1.1\r\nHost: function\r\n"
            . "Content-Length: " . length($body) . "\r\nFn-Call-Id: " . ulid()
            . "\r\n$h\r\n$body";
    syswrite($fh, $req) == length($req) or die "write: $!";
    my $buf = '';
    my $sel = IO::Select->new($fh);
    while ($sel->can_read($o{timeout} // 10)) {
        my $got = sysread($fh, $buf, 65536, length $buf);
        last unless $got;
        if ($buf =~ /\r\n\r\n/s) {
            my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            return { head => $head, body => substr($rest, 0, $len),
                     status => ($head =~ m{^HTTP/1\.1 (\d+)})[0],
                     rest => substr($rest, $len) }
                if defined $len && length($rest) >= $len;
        }
    }
    return { head => '', body => '', status => 0, raw => $buf };
}

sub header { my ($r, $n) = @_; return ($r->{head} =~ /^\Q$n\E:\s*(.*?)\r?$/mi)[0] }

sub executor_call {
    my (%o) = @_;
    my $id = ulid();
    return unix_request($ex->socket, 'POST', '/call',
        headers => { 'Fn-Call-Id' => $id, 'Fn-Method' => 'POST',
                     'Fn-Request-Url' => 'http://example.com/r/demo/hot',
                     'Fn-Route' => $o{route} // route(),
                     %{ $o{headers} // {} } },
        body => $o{body} // '', timeout => 30);
}

my $log = sub { FnTest::slurp($ex->dir . '/executor.log') // '' };

# --- the socket is the main socket's kind: its mode and owner ----------------
{
    my @st = stat("$tmp/direct.sock");
    ok(-S "$tmp/direct.sock", 'direct_listen is a socket');
    is(sprintf('%o', $st[2] & 07777), '666', 'with listen_mode');
}

# --- a lease, a call on it, and the instance back ----------------------------
my $w = worker();
my $l = lease($w);
like($l->{text}, qr/^grant \Q$l->{id}\E [0-9A-Z]{26} 10485760$/,
     'a lease is granted, with max_response_body')
    or diag($l->{text});
ok($l->{fh}, 'with the instance socket');
my $sandbox = (split / /, $l->{text})[2];
my $r = call_on($l->{fh}, body => 'abc', headers => { 'X-In' => 'one' });
is($r->{status}, 200, 'the leased instance answers a call written to it');
is($r->{body}, 'abc', 'with its body');
is(header($r, 'X-In'), 'one', 'and the headers it was sent');
my $instance = header($r, 'X-Instance');
$r = call_on($l->{fh}, body => 'def');
is($r->{body}, 'def', 'a second call on the same lease');
is(header($r, 'X-Instance'), $instance, 'on the same instance');
close $l->{fh};
$w->send("free $l->{id}");

# the executor's own calls reuse it (it went back to the pool)
$r = executor_call(body => 'xyz');
is($r->{status}, 200, 'an executor call after the lease ends');
is(header($r, 'X-Instance'), $instance, 'takes the instance given back');

# --- a lease for the same route takes the idle instance ---------------------
$l = lease($w);
like($l->{text}, qr/^grant \Q$l->{id}\E \Q$sandbox\E /, 'a new lease gets the idle instance');

# --- a waiting executor call asks the holder for it --------------------------
{
    my $pid = fork() // die;
    if ($pid == 0) {
        my $r = executor_call(body => 'waiting');
        POSIX::_exit($r->{status} == 200 && $r->{body} eq 'waiting' ? 0 : 1);
    }
    my ($text) = receive($w, 10);
    is($text, "revoke $l->{id}", 'a call waiting for the leased instance revokes it');
    close $l->{fh};
    $w->send("free $l->{id}");
    waitpid($pid, 0);
    is($?, 0, 'the waiting call runs on the instance given back');
}

# --- a worker that does not give back what it was asked for -----------------
{
    my $slow = route(path => '/late', timeout => 1);
    my $late = lease($w, $slow);
    like($late->{text}, qr/^grant /, 'leased (a route with a 1 s timeout)');
    my $pid = fork() // die;
    if ($pid == 0) {
        executor_call(route => $slow);
        POSIX::_exit(0);
    }
    my ($text) = receive($w, 10);
    is($text, "revoke $late->{id}", 'asked back for a waiting call');
    ($text) = receive($w, 15);
    is($text, "gone $late->{id}", 'not given back within its timeout and 5 s: gone');
    ok(wait_until(10, sub { $log->() =~ /hot instance stopped.*not given back in time/ }),
       'and stopped');
    close $late->{fh};
    waitpid($pid, 0);
}

# --- kill: the instance is stopped ------------------------------------------
$l = lease($w);
like($l->{text}, qr/^grant /, 'leased again');
close $l->{fh};
$w->send("kill $l->{id} timed out\x01");
ok(wait_until(10, sub { $log->() =~ /hot instance stopped.*nginx: timed out\?/ }),
   'kill stops the instance, with the reason (control bytes replaced)');
$l = lease($w);
like($l->{text}, qr/^grant /, 'a lease after a kill');
isnt((split / /, $l->{text})[2], $sandbox, 'gets a new instance');
$sandbox = (split / /, $l->{text})[2];

# --- an instance that writes once it is back is killed ----------------------
# (a holder sees an answer's extra bytes itself: nginx keeps no such
# connection; here the answer comes after the instance was given back)
{
    my $req = "POST / HTTP/1.1\r\nX-Mode: sleep\r\nX-Sleep: 300\r\n"
            . "Content-Length: 0\r\n\r\n";
    syswrite($l->{fh}, $req) == length($req) or die "write: $!";
    close $l->{fh};
    $w->send("free $l->{id}");
    ok(wait_until(10, sub { $log->() =~ /hot instance stopped.*\Q$sandbox\E.*answered with no call/ }),
       'an answer after the instance is back kills it');
}

# --- a worker that goes away takes its instances with it --------------------
$l = lease($w);
like($l->{text}, qr/^grant /, 'leased before the worker goes');
my $gone_sandbox = (split / /, $l->{text})[2];
close $l->{fh};
close $w;
ok(wait_until(10, sub { $log->() =~ /\Q$gone_sandbox\E.*its nginx worker went away|its nginx worker went away.*\Q$gone_sandbox\E/ }),
   'the instance of a worker that went away is stopped');

# --- the instance exits while leased: gone -----------------------------------
$w = worker();
$l = lease($w);
like($l->{text}, qr/^grant /, 'leased');
{
    my $req = "POST / HTTP/1.1\r\nX-Mode: exit\r\nContent-Length: 0\r\n\r\n";
    syswrite($l->{fh}, $req);
    my ($text) = receive($w, 10);
    is($text, "gone $l->{id}", 'an instance that exits while leased: gone');
    my $buf;
    is(sysread($l->{fh}, $buf, 10) // 0, 0, 'and its socket is closed');
    close $l->{fh};
}

# --- what cannot be leased ----------------------------------------------------
$l = lease($w, route(format => 'json'));
like($l->{text}, qr/^deny \Q$l->{id}\E 400 \{.*only routes of format http/,
     'a json route is denied (400)');
$l = lease($w, route(image => 'oci:nothing:v1'));
like($l->{text}, qr/^deny \Q$l->{id}\E (404|502) /, 'a route whose image is missing is denied');
ok(!$l->{fh}, 'with no descriptor');

# --- protocol errors drop the worker -----------------------------------------
for my $bad ("hello", "lease\nGET / HTTP/1.1\r\n", "free short",
             "lease\n" . head_of('not-a-ulid', route())) {
    my $s = worker();
    $s->send($bad);
    my ($text) = receive($s, 10);
    is($text, '', 'a bad message closes the connection: ' . substr($bad =~ s/\n.*//sr, 0, 20));
}
{
    # a descriptor sent to the executor
    my $s = worker();
    my $m = Socket::MsgHdr->new(buf => "free 01ARZ3NDEKTSV4RRFFQ69M0000");
    open(my $null, '<', '/dev/null') or die;
    $m->cmsghdr(SOL_SOCKET, SCM_RIGHTS, pack('i', fileno $null));
    sendmsg($s, $m, 0) or die "sendmsg: $!";
    my ($text) = receive($s, 10);
    is($text, '', 'a message with a descriptor closes the connection');
}

# the executor is well: a lease still works
$l = lease($w);
like($l->{text}, qr/^grant /, 'the executor leases on after all that');
close $l->{fh};
$w->send("free $l->{id}");

done_testing();
