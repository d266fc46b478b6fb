/*
 * image.h - base images available to VMs on this host.
 *
 * An image named NAME is the file <images-dir>/NAME.qcow2 (or NAME.raw),
 * the disk every VM created from it gets a copy-on-write overlay of.  Three
 * optional sidecar files select direct kernel boot instead of booting the
 * disk's own bootloader:
 *
 *     NAME.kernel    a Linux kernel (bzImage)
 *     NAME.initrd    its initramfs
 *     NAME.cmdline   one line: the kernel command line
 *
 * images/build-guest.sh produces such a set ("nubo-tiny").  A cloud image
 * with its own bootloader (a Debian genericcloud qcow2) is just NAME.qcow2.
 *
 * The controller uploads images part by part (PUT /v1/images/NAME/PART,
 * image_store_part()): each part lands in a temporary file and is renamed
 * into place only once its SHA-256 matches, so an image is never seen half
 * written.  An image is listed once its disk is there, which is why the
 * controller sends the disk last.
 */
#ifndef NUBO_HOST_IMAGE_H
#define NUBO_HOST_IMAGE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct image {
    char name[64];
    char path[PATH_MAX];   /* the base disk */
    char format[8];        /* "qcow2" or "raw" */
    char kernel[PATH_MAX]; /* "" when the image boots from its disk */
    char initrd[PATH_MAX];
    char cmdline[512];
    uint64_t virtual_size; /* bytes */
    uint64_t file_size;    /* bytes on disk */
};

/* Looks up a base image by name (already validated with valid_name) and
 * asks qemu-img for its virtual size and format.  NUBO_E_NOTFOUND when there
 * is no such image. */
int image_resolve(const char *dir, const char *name, struct image *out, struct nubo_err *err);

/* Lists the images of dir as a JSON array (new reference). */
json_t *image_list(const char *dir);

/* JSON object for one image (new reference). */
json_t *image_to_json(const struct image *img);

/* Removes temporary files of uploads that a crash interrupted. */
void image_clean_uploads(const char *dir);

/* True for an upload part name: "disk", "kernel", "initrd", "cmdline". */
bool image_part_valid(const char *part);

/* Stores an uploaded part of image `name` from fd (an anonymous O_TMPFILE
 * in dir holding the whole body; not closed here) after checking that its
 * SHA-256 is sha256 (hex).  A disk must be qcow2 without a backing or
 * external data file, or raw; it becomes NAME.qcow2 or NAME.raw (the
 * other one is removed).  A cmdline is one line of at most 511 printable
 * characters.  Replaces an existing part atomically.  NUBO_E_INVALID on a
 * mismatch or a bad part; nothing changes on failure. */
int image_store_part(const char *dir, const char *name, const char *part, int fd,
                     const char *sha256, struct nubo_err *err);

#endif
