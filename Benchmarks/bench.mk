# The socket baseline (Benchmarks/Baseline/README.md), included by the top-level Makefile.
#   make baseline    baseline-server (echo, floor) and baseline-load in $(BASELINE_OUT)
# scripts/bench-socket and scripts/bench-clients build it; `make test` builds it so it cannot rot.

BASELINE_DIR := Benchmarks/Baseline
BASELINE_OUT := .build/baseline
BASELINE_CFLAGS := -O2 -g -std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -pthread \
	-I$(BASELINE_DIR) -ISources/CMoatProto/include
BASELINE_COMMON := $(BASELINE_DIR)/baseline.c Sources/CMoatProto/moat/v1/authz.pb-c.c
BASELINE_HEADERS := $(BASELINE_DIR)/baseline.h $(wildcard Sources/CMoatProto/include/*.h Sources/CMoatProto/include/moat/v1/*.h)

.PHONY: baseline
baseline: $(BASELINE_OUT)/baseline-server $(BASELINE_OUT)/baseline-load $(BASELINE_OUT)/valgrind-sigsuspend-shim.so

$(BASELINE_OUT)/baseline-server: $(BASELINE_DIR)/server.c Sources/CMoatProto/cmoat_check_strings.c $(BASELINE_COMMON) $(BASELINE_HEADERS)
	@mkdir -p $(BASELINE_OUT)
	$(CC) $(BASELINE_CFLAGS) -o $@ $(BASELINE_DIR)/server.c Sources/CMoatProto/cmoat_check_strings.c $(BASELINE_COMMON) -lprotobuf-c

$(BASELINE_OUT)/baseline-load: $(BASELINE_DIR)/load.c $(BASELINE_COMMON) $(BASELINE_HEADERS)
	@mkdir -p $(BASELINE_OUT)
	$(CC) $(BASELINE_CFLAGS) -o $@ $(BASELINE_DIR)/load.c $(BASELINE_COMMON) -lprotobuf-c

# Preloaded into moatd under callgrind only (see the file).
$(BASELINE_OUT)/valgrind-sigsuspend-shim.so: $(BASELINE_DIR)/valgrind-sigsuspend-shim.c
	@mkdir -p $(BASELINE_OUT)
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $<
