/* Reading the fixtures' expected.safetensors from C (for tests/test_c_api.c): just enough of the
 * format to find one tensor's bytes by name. A safetensors file is an 8-byte little-endian header
 * length, a JSON header mapping each name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets counted from the end of the header), then the data. The fixtures are little-endian, as
 * is every machine this project runs on. */
#ifndef MAMBA_TESTS_C_EXPECTED_H_
#define MAMBA_TESTS_C_EXPECTED_H_

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct expected_file {
  unsigned char* bytes;
  size_t size;
  char* header; /* NUL-terminated copy of the JSON header */
  size_t data_begin;
} expected_file;

/* 1 on success; 0 (and a message on stderr) if the file is missing or not safetensors. */
static int expected_open(expected_file* f, const char* path) {
  FILE* in = fopen(path, "rb");
  uint64_t hlen = 0;
  memset(f, 0, sizeof *f);
  if (!in) { fprintf(stderr, "cannot open %s\n", path); return 0; }
  fseek(in, 0, SEEK_END);
  f->size = (size_t)ftell(in);
  fseek(in, 0, SEEK_SET);
  f->bytes = (unsigned char*)malloc(f->size);
  if (!f->bytes || fread(f->bytes, 1, f->size, in) != f->size || f->size < 8) {
    fprintf(stderr, "cannot read %s\n", path);
    fclose(in);
    return 0;
  }
  fclose(in);
  memcpy(&hlen, f->bytes, 8);
  if (hlen > f->size - 8) { fprintf(stderr, "%s: bad header length\n", path); return 0; }
  f->header = (char*)malloc((size_t)hlen + 1);
  memcpy(f->header, f->bytes + 8, (size_t)hlen);
  f->header[hlen] = '\0';
  f->data_begin = 8 + (size_t)hlen;
  return 1;
}

/* The bytes of tensor `name` and their count, or NULL if there is no such tensor. */
static const void* expected_tensor(const expected_file* f, const char* name, size_t* nbytes) {
  char key[128];
  const char* at;
  unsigned long long begin = 0, end = 0;
  snprintf(key, sizeof key, "\"%s\":", name);
  at = strstr(f->header, key);
  if (!at) return NULL;
  at = strstr(at, "\"data_offsets\":");
  if (!at || sscanf(at, "\"data_offsets\":[%llu,%llu]", &begin, &end) != 2) return NULL;
  if (end < begin || f->data_begin + end > f->size) return NULL;
  *nbytes = (size_t)(end - begin);
  return f->bytes + f->data_begin + begin;
}

static void expected_close(expected_file* f) {
  free(f->bytes);
  free(f->header);
}

#endif /* MAMBA_TESTS_C_EXPECTED_H_ */
