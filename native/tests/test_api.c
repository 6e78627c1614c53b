/*
 * test_api.c - bn_version and bn_strerror.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "harness.h"

#ifndef BN_EXPECTED_VERSION
#error "BN_EXPECTED_VERSION must be defined by native/tests/CMakeLists.txt"
#endif

// "MAJOR.MINOR.PATCH" followed by nothing or "-QUALIFIER"
static int is_version(const char *v) {
    for (int part = 0; part < 3; part++) {
        if (!isdigit((unsigned char)*v)) return 0;
        while (isdigit((unsigned char)*v)) v++;
        if (part < 2 && *v++ != '.') return 0;
    }
    return *v == '\0' || (v[0] == '-' && v[1] != '\0');
}

void test_version(void) {
    const char *v = bn_version();
    CHECK(v != NULL, "bn_version() returned NULL");
    if (v == NULL) return;
    CHECK(strcmp(v, BN_EXPECTED_VERSION) == 0, "bn_version() = \"%s\", build version \"%s\"", v,
          BN_EXPECTED_VERSION);
    CHECK(is_version(v), "bn_version() = \"%s\" is not MAJOR.MINOR.PATCH[-QUALIFIER]", v);
    CHECK(bn_version() == v, "bn_version() is not static storage");
}

void test_strerror(void) {
    const char *unknown = "unknown bn_status";
    const char *msg[BN_ERR_BAD_DTYPE + 1];
    for (int st = BN_OK; st <= BN_ERR_BAD_DTYPE; st++) {
        msg[st] = bn_strerror(st);
        CHECK(msg[st] != NULL, "bn_strerror(%d) is NULL", st);
        if (msg[st] == NULL) return;
        CHECK(msg[st][0] != '\0', "bn_strerror(%d) is empty", st);
        CHECK(strcmp(msg[st], unknown) != 0, "bn_strerror(%d) says unknown", st);
        for (int other = BN_OK; other < st; other++) {
            CHECK(strcmp(msg[st], msg[other]) != 0, "bn_strerror(%d) == bn_strerror(%d): \"%s\"",
                  st, other, msg[st]);
        }
    }
    const int bad[] = {-1, BN_ERR_BAD_DTYPE + 1, 13, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *m = bn_strerror(bad[i]);
        CHECK(m != NULL && strcmp(m, unknown) == 0, "bn_strerror(%d) = \"%s\"", bad[i],
              m ? m : "(null)");
    }
}
