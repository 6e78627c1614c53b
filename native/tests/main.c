/*
 * main.c - bn_tests NAME: runs one test; bn_tests --list prints the names.
 * Exit status: 0 if every CHECK passed, 1 if one failed, 2 for usage errors.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
    {"version", test_version},
    {"strerror", test_strerror},
    {"clear_upper", test_clear_upper},
    {"check_forward_training", test_check_forward_training},
    {"check_forward_inference", test_check_forward_inference},
    {"check_backward", test_check_backward},
    {"check_order", test_check_order},
    {"status_coverage", test_status_coverage},
    {"forward_training", test_forward_training},
    {"forward_inference", test_forward_inference},
    {"backward", test_backward},
    {"channel_chunks", test_channel_chunks},
    {"running_stats", test_running_stats},
    {"wide_rows", test_wide_rows},
    {"rows_walk", test_rows_walk},
    {"large_offset", test_large_offset},
    {"constant_channel", test_constant_channel},
    {"nonfinite_isolation", test_nonfinite_isolation},
    {"near_float_max", test_near_float_max},
    {"num_threads", test_num_threads},
    {"team_workers", test_team_workers},
    {"threads_identical", test_threads_identical},
    {"concurrent_calls", test_concurrent_calls},
    {"split_one_part", test_split_one_part},
    {"split_parts", test_split_parts},
    {"split_counts_per_channel", test_split_counts_per_channel},
    {"split_large_offset", test_split_large_offset},
    {"check_split", test_check_split},
    {"split_threads_identical", test_split_threads_identical},
    {"fused_forward", test_fused_forward},
    {"fused_backward", test_fused_backward},
    {"fused_check", test_fused_check},
    {"fused_threads", test_fused_threads},
    {"fused_split", test_fused_split},
    {"linear_forward", test_linear_forward},
    {"linear_backward", test_linear_backward},
    {"linear_check", test_linear_check},
    {"linear_threads", test_linear_threads},
    {"half_widen", test_half_widen},
    {"half_narrow", test_half_narrow},
    {"half_lengths", test_half_lengths},
    {"half_forward_training", test_half_forward_training},
    {"half_forward_inference", test_half_forward_inference},
    {"half_backward", test_half_backward},
    {"half_threads", test_half_threads},
    {"half_stream", test_half_stream},
    {"half_split", test_half_split},
    {"half_check", test_half_check},
    {"convert_check", test_convert_check},
    {"conv_im2col", test_conv_im2col},
    {"conv_transpose", test_conv_transpose},
    {"conv_check", test_conv_check},
};

int main(int argc, char **argv) {
    const int n = (int)(sizeof tests / sizeof tests[0]);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n; i++) printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST | --list\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[1], tests[i].name) == 0) {
            tests[i].run();
            if (bt_failures != 0) {
                fprintf(stderr, "%s: %d failure(s)\n", tests[i].name, bt_failures);
                return 1;
            }
            printf("%s: ok (%ld checks)\n", tests[i].name, bt_checks);
            return 0;
        }
    }
    fprintf(stderr, "unknown test: %s\n", argv[1]);
    return 2;
}
