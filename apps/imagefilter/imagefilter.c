/*
 * imagefilter: applies filters to a binary PGM (P5) or PPM (P6) image with
 * maxval <= 255.
 *
 * Input: IEXEC_IN/IEXEC_INPUT_FILE_NAME_1, or the dataset file when the deal
 * has no input file. Usage: imagefilter [FILTER...]   (default: grayscale)
 * Filters, applied in order:
 *   grayscale  RGB to one channel, luma = (299 R + 587 G + 114 B) / 1000, rounded
 *   invert     v -> maxval - v
 *   blur       3x3 box blur, edges clamped, rounded to nearest
 * Output: IEXEC_OUT/output.pgm (1 channel) or output.ppm (3 channels),
 * named in computed.json. Integer arithmetic only, so results are exact.
 */
#include <ctype.h>
#include <stdint.h>

#include "iexec.h"

#define MAX_PIXELS (64u * 1024u * 1024u)

struct image {
    unsigned width, height, channels, maxval;
    uint8_t *data; /* width * height * channels */
};

static int skip_space_and_comments(FILE *f) {
    int c;
    for (;;) {
        c = fgetc(f);
        if (c == '#') {
            while (c != '\n' && c != EOF) {
                c = fgetc(f);
            }
        } else if (!isspace(c)) {
            return c;
        }
    }
}

static unsigned read_header_number(FILE *f, const char *what) {
    int c = skip_space_and_comments(f);
    if (!isdigit(c)) {
        iexec_die("bad PNM header: expected %s", what);
    }
    unsigned long v = 0;
    while (isdigit(c)) {
        v = v * 10 + (unsigned long)(c - '0');
        if (v > 1000000) {
            iexec_die("bad PNM header: %s too large", what);
        }
        c = fgetc(f);
    }
    if (!isspace(c)) {
        iexec_die("bad PNM header after %s", what);
    }
    return (unsigned)v;
}

static struct image read_pnm(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        iexec_die("cannot open input image %s: %s", path, strerror(errno));
    }
    struct image img = {0};
    char magic[2];
    if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) {
        iexec_die("%s is not a binary PGM (P5) or PPM (P6) image", path);
    }
    img.channels = magic[1] == '5' ? 1 : 3;
    img.width = read_header_number(f, "width");
    img.height = read_header_number(f, "height");
    img.maxval = read_header_number(f, "maxval");
    if (img.width == 0 || img.height == 0 || img.maxval == 0 || img.maxval > 255) {
        iexec_die("unsupported image: %ux%u maxval %u (need non-empty, maxval 1..255)",
                  img.width, img.height, img.maxval);
    }
    if ((uint64_t)img.width * img.height > MAX_PIXELS) {
        iexec_die("image too large: %ux%u", img.width, img.height);
    }
    size_t len = (size_t)img.width * img.height * img.channels;
    img.data = malloc(len);
    if (img.data == NULL) {
        iexec_die("out of memory for a %ux%u image", img.width, img.height);
    }
    if (fread(img.data, 1, len, f) != len) {
        iexec_die("%s is truncated: expected %zu bytes of pixels", path, len);
    }
    fclose(f);
    for (size_t i = 0; i < len; i++) {
        if (img.data[i] > img.maxval) {
            iexec_die("pixel value %u above maxval %u", img.data[i], img.maxval);
        }
    }
    return img;
}

static void grayscale(struct image *img) {
    if (img->channels == 1) {
        return;
    }
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->data + 3 * i;
        img->data[i] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
    }
    img->channels = 1;
}

static void invert(struct image *img) {
    size_t len = (size_t)img->width * img->height * img->channels;
    for (size_t i = 0; i < len; i++) {
        img->data[i] = (uint8_t)(img->maxval - img->data[i]);
    }
}

static unsigned clamp_index(long v, unsigned limit) {
    if (v < 0) {
        return 0;
    }
    return v >= (long)limit ? limit - 1 : (unsigned)v;
}

static void blur(struct image *img) {
    unsigned w = img->width, h = img->height, ch = img->channels;
    uint8_t *out = malloc((size_t)w * h * ch);
    if (out == NULL) {
        iexec_die("out of memory");
    }
    for (unsigned y = 0; y < h; y++) {
        for (unsigned x = 0; x < w; x++) {
            for (unsigned c = 0; c < ch; c++) {
                unsigned sum = 0;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        unsigned sx = clamp_index((long)x + dx, w);
                        unsigned sy = clamp_index((long)y + dy, h);
                        sum += img->data[((size_t)sy * w + sx) * ch + c];
                    }
                }
                out[((size_t)y * w + x) * ch + c] = (uint8_t)((sum + 4) / 9);
            }
        }
    }
    free(img->data);
    img->data = out;
}

int main(int argc, char **argv) {
    const char *input = iexec_env("IEXEC_INPUT_FILE_NAME_1", NULL);
    if (input == NULL) {
        input = iexec_env("IEXEC_DATASET_FILENAME", NULL);
    }
    if (input == NULL) {
        iexec_die("no input image: pass one as the deal's first input file");
    }
    char in_path[4096];
    iexec_join(in_path, sizeof in_path, iexec_in_dir(), input);
    struct image img = read_pnm(in_path);

    static char *default_filters[] = {"grayscale"};
    char **filters = argc > 1 ? argv + 1 : default_filters;
    int nfilters = argc > 1 ? argc - 1 : 1;
    for (int i = 0; i < nfilters; i++) {
        if (strcmp(filters[i], "grayscale") == 0) {
            grayscale(&img);
        } else if (strcmp(filters[i], "invert") == 0) {
            invert(&img);
        } else if (strcmp(filters[i], "blur") == 0) {
            blur(&img);
        } else {
            iexec_die("unknown filter '%s' (known: grayscale, invert, blur)", filters[i]);
        }
    }

    const char *name = img.channels == 1 ? "output.pgm" : "output.ppm";
    char out_path[4096];
    FILE *out = iexec_create_output(name, out_path, sizeof out_path);
    fprintf(out, "P%c\n%u %u\n%u\n", img.channels == 1 ? '5' : '6', img.width, img.height,
            img.maxval);
    fwrite(img.data, 1, (size_t)img.width * img.height * img.channels, out);
    iexec_close_output(out, out_path);

    printf("imagefilter: wrote %ux%u %s\n", img.width, img.height, name);
    iexec_write_computed_json(out_path);
    return 0;
}
