/*
 * cmd_image.c - `nubo image ...`: the base images VMs are created from
 * (GET /v1/images).  Images are files the agent finds in its images
 * directory; the CLI only lists them.
 */
#include <stdio.h>

#include "cli/cmd.h"
#include "cli/output.h"

static const char image_usage[] = "usage: nubo image COMMAND\n"
                                  "\n"
                                  "Commands:\n"
                                  "  list    base images to create VMs from\n"
                                  "\n" CLI_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo image list [-o table|json]\n"
    "\n"
    "Lists the base images in the agent's images directory: NAME (what\n"
    "'nubo vm create --image' takes), FORMAT, BOOT (kernel: a kernel and initrd\n"
    "beside the disk; disk: the disk's own boot loader), VIRTUAL SIZE (the\n"
    "smallest root disk a VM of it can have) and FILE SIZE.\n"
    "\n" CLI_COMMON_HELP;

static void list_print(const json_t *images)
{
    static const char *const headers[] = {"NAME", "FORMAT", "BOOT", "VIRTUAL SIZE", "FILE SIZE"};
    struct output_table *t = output_table_new(5, headers);
    size_t i;
    const json_t *img;
    json_array_foreach(images, i, img)
    {
        char vsize[24], fsize[24];
        output_size((uint64_t)cli_json_int(img, "virtual_size"), vsize, sizeof(vsize));
        output_size((uint64_t)cli_json_int(img, "file_size"), fsize, sizeof(fsize));
        const char *row[] = {cli_json_str(img, "name"), cli_json_str(img, "format"),
                             cli_json_str(img, "boot"), vsize, fsize};
        output_table_add(t, row);
    }
    if (output_table_rows(t) == 0)
        fputs("nubo: no images (the agent reads them from its --images-dir)\n", stderr);
    else
        output_table_print(t, stdout);
    output_table_free(t);
}

static int image_list(struct cli *cli, int argc, char **argv)
{
    int r;
    struct nubo_err err;
    json_t *answer = NULL;
    if ((r = cli_options_common(cli, argc, argv, list_usage, false)) != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((r = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (r = cli_connect(cli)) != 0)
        return r;
    if (cli_call(cli, "GET", "/v1/images", NULL, &answer, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, answer))
        list_print(json_object_get(answer, "images"));
    json_decref(answer);
    return CLI_EXIT_OK;
}

int cmd_image(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"list", image_list}};
    return cli_dispatch(cli, argc, argv, cmds, 1, image_usage);
}
