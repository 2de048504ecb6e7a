package FnImage;

# Builds OCI image layouts (tests, benchmarks, scripts/image-build) with
# core Perl only: layers are tar archives (Archive::Tar), optionally
# gzip-compressed, named by their SHA-256 digests, as `skopeo copy ...
# oci:` or umoci would write them.
#
#   FnImage::build($dir, tag => 'v1', config => {...}, layers => [
#       [ [ 'bin/busybox', file => '/bin/busybox', mode => 0755 ],
#         [ 'bin/sh', symlink => 'busybox' ],
#         [ 'fn/handler', data => "...", mode => 0755 ] ],
#   ]);
#
# Entry options: data, file (copied from the host), symlink, hardlink,
# dir, chardev; mode.  A layer may also be a tar archive's bytes (a scalar
# reference, compressed as the others), entries compressed or not whatever
# build()'s gzip says: { entries => [...], gzip => 0 }, or a blob stored
# as it is: { blob => $bytes, gzip => 1 } (a gzip-compressed tar; 0:
# plain).  Several build() calls into one directory add tags.
#
# A function written with Fn's Node FDK (format http-stream), run by the
# host's node:
#
#   FnImage::build($dir, tag => 'v1',
#       config => { Cmd => [ '/usr/bin/node', '/function/func.js' ] },
#       layers => [ FnImage::node_layers('build/npm/fdk',
#                                        't/fn/node/func.js') ]);
#
# node_layers($fdk_dir, $func_js, node => '/usr/bin/node', gzip => 0)
# gives two layers.  The first has the node binary at /usr/bin/node and
# every library ldd lists for it, each a file where ldd found it (the
# loader /lib64/ld-linux-x86-64.so.2 too), with no /etc: node starts
# without.  It is some 100 MB, so plain unless gzip says otherwise
# (compressing it takes seconds).  The second has the node_modules folder
# of $fdk_dir (where npm installed the FDK) as /function/node_modules,
# $func_js as /function/func.js and an empty /tmp (mode 1777).

use strict;
use warnings;

use Archive::Tar;
use Archive::Tar::Constant qw(FILE DIR SYMLINK HARDLINK CHARDEV);
use Digest::SHA qw(sha256_hex);
use File::Find qw(find);
use File::Path qw(make_path);
use IO::Compress::Gzip qw(gzip $GzipError);
use JSON::PP;

my $json = JSON::PP->new->canonical;

sub slurp_raw {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub blob {
    my ($dir, $bytes) = @_;
    my $hex = sha256_hex($bytes);
    make_path("$dir/blobs/sha256");
    open(my $fh, '>:raw', "$dir/blobs/sha256/$hex") or die $!;
    print $fh $bytes;
    close $fh;
    return ("sha256:$hex", length $bytes);
}

sub layer_tar {
    my ($entries) = @_;
    my $tar = Archive::Tar->new;
    for my $e (@$entries) {
        my ($name, %o) = @$e;
        my %props = (mode => $o{mode} // 0644, uid => 0, gid => 0,
                     mtime => 1700000000);
        my $data = '';
        if (exists $o{symlink}) {
            %props = (%props, type => SYMLINK, linkname => $o{symlink},
                      mode => 0777);
        } elsif (exists $o{hardlink}) {
            %props = (%props, type => HARDLINK, linkname => $o{hardlink});
        } elsif ($o{dir}) {
            %props = (%props, type => DIR, mode => $o{mode} // 0755);
        } elsif ($o{chardev}) {
            %props = (%props, type => CHARDEV, devmajor => 1, devminor => 3);
        } else {
            $data = exists $o{file} ? slurp_raw($o{file}) : $o{data} // '';
            $props{type} = FILE;
        }
        my $f = $tar->add_data($name, $data, \%props)
            or die "cannot make tar entry $name: " . $tar->error;
        # hostile tests need names exactly as given
        $f->{name} = $name;
        $f->{prefix} = '';
    }
    return $tar->write;
}

sub build {
    my ($dir, %o) = @_;
    my $gz = $o{gzip} // 1;
    make_path($dir);
    my @layers;
    for my $entries (@{ $o{layers} // [] }) {
        my ($bytes, $zipped);
        if (ref $entries eq 'HASH' && exists $entries->{blob}) {
            ($bytes, $zipped) = ($entries->{blob}, $entries->{gzip} // 1);
        } else {
            $zipped = $gz;
            if (ref $entries eq 'HASH') {
                $zipped = $entries->{gzip} // $gz;
                $entries = $entries->{entries};
            }
            $bytes = ref $entries eq 'SCALAR' ? $$entries
                                               : layer_tar($entries);
            if ($zipped) {
                my $z;
                # no time in the header: the same files, the same layer
                gzip(\$bytes => \$z, Time => 0) or die $GzipError;
                $bytes = $z;
            }
        }
        my ($d, $size) = blob($dir, $bytes);
        push @layers, {
            mediaType => 'application/vnd.oci.image.layer.v1.tar'
                         . ($zipped ? '+gzip' : ''),
            digest => $d, size => $size };
    }
    my %config = (architecture => 'amd64', os => 'linux',
                  config => $o{config} // {},
                  rootfs => { type => 'layers', diff_ids => [] });
    my ($cd, $csize) = blob($dir, $json->encode(\%config));
    my %manifest = (schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.manifest.v1+json',
        config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                    digest => $cd, size => $csize },
        layers => \@layers);
    my ($md, $msize) = blob($dir, $json->encode(\%manifest));

    my $index = -f "$dir/index.json"
        ? decode_json(slurp_raw("$dir/index.json"))
        : { schemaVersion => 2, manifests => [] };
    my $tag = $o{tag} // 'latest';
    $index->{manifests} = [
        (grep { ($_->{annotations}{'org.opencontainers.image.ref.name'} // '')
                ne $tag } @{ $index->{manifests} }),
        { mediaType => 'application/vnd.oci.image.manifest.v1+json',
          digest => $md, size => $msize,
          annotations => { 'org.opencontainers.image.ref.name' => $tag } } ];
    open(my $fh, '>', "$dir/index.json") or die $!;
    print $fh $json->encode($index);
    close $fh;
    open($fh, '>', "$dir/oci-layout") or die $!;
    print $fh '{"imageLayoutVersion":"1.0.0"}';
    close $fh;
    return $md;
}

# A layer with a static busybox and its applets, and a function script.
sub busybox_layer {
    my (%o) = @_;
    my @e = ([ 'bin', dir => 1 ], [ 'bin/busybox', file => '/bin/busybox',
                                    mode => 0755 ]);
    push @e, [ "bin/$_", symlink => 'busybox' ]
        for qw(sh cat echo env id ls sleep head dd yes printf tr wc ps
               mount ip hostname touch rm mkdir grep sed test true false
               kill seq tail nc wget cut mktemp);
    push @e, [ 'etc', dir => 1 ], [ 'etc/passwd',
               data => "root:x:0:0::/root:/bin/sh\n" ];
    return \@e;
}

# Programs of the host in an image (curl for a Lambda custom runtime):
# each binary where it is, and every library ldd lists for it (the
# loader too), as one plain layer.
sub host_layer {
    my (@bins) = @_;
    my %seen;
    my @e;
    for my $bin (@bins) {
        for my $f ($bin, shared_libraries($bin)) {
            (my $name = $f) =~ s{^/+}{};
            push @e, [ $name, file => $f, mode => 0755 ] unless $seen{$name}++;
        }
    }
    return { entries => [ with_dirs(@e) ], gzip => 0 };
}

# The entries with a dir entry before them for each folder their names
# are in (that none of them is already), folders first.
sub with_dirs {
    my (@entries) = @_;
    my %have = map { $_->[0] => 1 } grep { my %o = @$_[1 .. $#$_]; $o{dir} }
                   @entries;
    my %dirs;
    for my $e (@entries) {
        my @parts = split m{/}, $e->[0];
        pop @parts;
        $dirs{ join '/', @parts[0 .. $_] } = 1 for 0 .. $#parts;
    }
    return ((map { [ $_, dir => 1 ] } sort grep { !$have{$_} } keys %dirs),
            @entries);
}

# Where ldd says the loader finds each library of a binary (none for a
# static one).
sub shared_libraries {
    my ($bin) = @_;
    open(my $fh, '-|', 'ldd', $bin) or die "ldd $bin: $!";
    my (@libs, $static);
    while (my $line = <$fh>) {
        if ($line =~ /not a dynamic executable/) {
            $static = 1;
        } elsif ($line =~ /^\s*(\S+) => not found/) {
            die "ldd $bin: $1 not found\n";
        } elsif ($line =~ m{=> (/\S+)} || $line =~ m{^\s*(/\S+)}) {
            push @libs, $1;
        }
    }
    close $fh or $static or die "ldd $bin failed\n";
    return @libs;
}

sub node_layers {
    my ($fdk_dir, $func_js, %o) = @_;
    my $node = $o{node} // '/usr/bin/node';

    my %seen;
    my @runtime = with_dirs(
        [ 'usr/bin/node', file => $node, mode => 0755 ],
        map { (my $name = $_) =~ s{^/+}{};
              $seen{$name}++ ? () : [ $name, file => $_, mode => 0755 ] }
            shared_libraries($node));

    my $modules = "$fdk_dir/node_modules";
    -f "$modules/\@fnproject/fdk/package.json"
        or die "$modules: no \@fnproject/fdk (scripts/deps installs it)\n";
    my @found;
    find({ no_chdir => 1, wanted => sub {
        return if $_ eq $modules;
        (my $rel = $_) =~ s{^\Q$modules\E/}{};
        my $name = "function/node_modules/$rel";
        if (-l $_) {
            push @found, [ $name, symlink => readlink($_) ];
        } elsif (-d _) {
            push @found, [ $name, dir => 1 ];
        } elsif (-f _) {
            push @found, [ $name, file => $_,
                           mode => -x _ ? 0755 : 0644 ];
        }
    } }, $modules);
    my @function = with_dirs(
        [ 'tmp', dir => 1, mode => 01777 ],
        [ 'function', dir => 1 ],
        [ 'function/node_modules', dir => 1 ],
        (sort { $a->[0] cmp $b->[0] } @found),
        [ 'function/func.js', file => $func_js ]);

    return ({ entries => \@runtime, gzip => $o{gzip} // 0 }, \@function);
}

1;
