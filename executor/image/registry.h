/*
 * Images from OCI distribution registries (Docker's registry API v2),
 * pulled with libcurl into the executor's store of pulled images
 * (registry_store.h), whose blobs image_store.c reads as it reads those
 * of image_dir's layouts.
 *
 * Hostile registries are expected: pulls go only to allowed registries
 * (allowed_registries, and the default one); a registry host, or a
 * redirect's, that connects to a loopback, private or link-local address
 * is refused unless the registry is listed in allowed_registries; plain
 * HTTP only for insecure_registries; documents are size-capped and every
 * blob is checked against its digest and size while it streams in.  One
 * pull per repository at a time: calls that want the same image wait for
 * the pull under way and share its outcome.  Requests that fail for a
 * moment (no connection, 5xx, 429) are tried again within the pull; a
 * pull that failed answers the calls for its image with its error for a
 * pause (1 s, doubling to 30 s), then the next call pulls again; a tag
 * whose pull failed for want of the registry runs the digest it had last,
 * if that image is here.  A tag's digest is kept for registry_tag_ttl.
 *
 * Everything here blocks: callers run it on libuv's thread pool.
 */
#ifndef EXECUTOR_REGISTRY_H
#define EXECUTOR_REGISTRY_H

#include "config.h"
#include "image_store.h"
#include "oci.h"
#include "registry_store.h"

#include <stddef.h>

/*
 * Takes the registry settings of cfg (at start, on reload), and reads
 * registry_credentials_file.  0, or -1 (logged) when that file cannot be
 * used: the credentials read before stay.
 */
int registry_configure(const struct config *cfg);

/*
 * Resolves the registry reference name to its manifest for this host,
 * pulling what the blob store lacks (manifest, config, layers).  On
 * IMAGE_OK, *manifest describes the manifest, whose blobs are all in
 * REGISTRY_LAYOUT, pinned there: the caller releases it
 * (registry_store_release()) once the image's tree is unpacked or held.
 * Else err says why, naming the image (never a host path).
 */
enum image_error registry_resolve(const char *name,
                                  struct oci_descriptor *manifest,
                                  char *err, size_t errlen);

/*
 * The image name, pulled, could not be used (err: why): the calls that
 * want it get that error for a pause, as after a failed pull, rather than
 * each pulling it again.
 */
void registry_failed(const char *name, enum image_error rc, const char *err);

/* Whether a connection to this address needs an explicit allowance: a
 * loopback, private, link-local, multicast or unspecified address.
 * Pure. */
struct sockaddr;
int registry_address_private(const struct sockaddr *sa);

#endif
