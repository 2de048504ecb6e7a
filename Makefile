# Build, test and run the functions platform.
#
#   make                 module and executor (build/release/)
#   make SANITIZE=1      the same with ASan and UBSan (build/sanitize/)
#   make test            everything, then the test suite (t/*.t)
#   make quickstart      start the local stack; make stop stops it
#   make deps            install the Debian packages the project needs

comma    := ,
SANITIZE ?=
NGX_SRC  ?= /usr/share/nginx/src
CC       ?= gcc

ifeq ($(SANITIZE),)
VARIANT   := release
OPT       := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
else
VARIANT   := sanitize
OPT       := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
endif

B         := build/$(VARIANT)
WARN      := -Wall -Wextra -Werror
# The executor's folders, by concern (docs/architecture.md), bottom up.
EXECUTOR_DIRS := core http sandbox image hot call async server
EXECUTOR_INC  := -Icommon $(addprefix -Iexecutor/,$(EXECUTOR_DIRS))
CFLAGS    += -std=gnu11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(EXECUTOR_INC) \
             -I/usr/include/mariadb
LDFLAGS   += $(if $(SANITIZE),-fsanitize=address$(comma)undefined) -Wl,-z,relro -Wl,-z,now

# The module is compiled by nginx's own build, with Debian's hardening flags
# (as its nginx was built) plus ours; the root config finds MariaDB's
# headers itself.
NGX_CC_OPT := -g $(OPT) -fPIC -Wformat -Werror=format-security -Wdate-time \
              $(WARN)
NGX_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC \
              $(if $(SANITIZE),-fsanitize=address$(comma)undefined)

MODULE_SRCS   := config $(wildcard ngx_http_functions_module/*.[ch]) \
                 $(wildcard common/*.[ch])

# Pure code (parsers, encoders, rules; no I/O): unit-tested and fuzzed,
# and linked alone into the tests and fuzzers, which keeps it pure.
# common/ holds what the module uses too.
EXECUTOR_PURE := common/errf.c common/route_def.c common/ulid.c \
                 common/logfmt.c common/image_ref.c \
                 $(addprefix executor/core/,config.c json_out.c metrics.c \
                     base64.c text_out.c arena.c utc_time.c) \
                 executor/http/request_parser.c executor/http/http_status.c \
                 executor/http/http_head.c \
                 executor/call/call_request.c executor/call/route_cache.c \
                 $(addprefix executor/hot/,hot_request.c http_response.c \
                     json_format.c stream_format.c lambda_format.c) \
                 $(addprefix executor/sandbox/,sandbox_args.c \
                     sandbox_proto.c cgroup_self.c) \
                 $(addprefix executor/image/,oci.c layer_path.c \
                     unpack_limits.c image_lru.c registry_auth.c) \
                 executor/async/async_message.c
# The sandbox helper's own files are not the daemon's.
HELPER_ONLY   := executor/sandbox/sandbox_helper.c \
                 executor/sandbox/sandbox_init.c
EXECUTOR_SRCS := $(EXECUTOR_PURE) common/amqp_link.c \
                 $(filter-out $(EXECUTOR_PURE) $(HELPER_ONLY), \
                     $(sort $(wildcard executor/*.c executor/*/*.c)))
EXECUTOR_LIBS := -luv -lhttp_parser -ljansson -larchive -lseccomp -lcrypto \
                 -lrabbitmq -lmariadb -lcurl -lpthread

UNIT_TESTS    := $(patsubst t/unit/%.c,$(B)/unit/%,$(wildcard t/unit/*_test.c))

FUZZERS       := $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/*_fuzz.c))
FUZZ_SECONDS  ?= 60

.PHONY: all module executor unit test test-cluster soak deps quickstart stop \
        status clean deb \
        fuzz fuzz-run bench

all: module executor unit

module: $(B)/ngx_http_functions_module.so
executor: $(B)/functions-executor $(B)/functions-sandbox-helper
unit: $(UNIT_TESTS)

# nginx-dev ships headers and configure; configure a private copy so that
# nothing is written under $(NGX_SRC).
$(B)/nginx/objs/Makefile: config $(NGX_SRC)/conf_flags
	rm -rf $(B)/nginx
	mkdir -p $(B)
	cp -r $(NGX_SRC) $(B)/nginx
	@# configure would take the executor's CFLAGS from the environment
	cd $(B)/nginx && env -u CFLAGS -u CPPFLAGS -u LDFLAGS \
	    bash -c '. ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR)' > configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }

$(B)/ngx_http_functions_module.so: $(B)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(B)/nginx -f objs/Makefile modules
	@# a new file, never rewritten in place: a running nginx maps the old one
	cp $(B)/nginx/objs/ngx_http_functions_module.so $@.tmp
	mv -f $@.tmp $@

$(B)/executor/%.o: executor/%.c $(wildcard executor/*/*.h common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The sandbox helper starts every sandbox and is its init: static, and
# without the sanitizer runtimes (which cannot be linked statically), in
# both variants.
HELPER_SRCS := $(HELPER_ONLY) executor/sandbox/sandbox_proto.c
$(B)/functions-sandbox-helper: $(HELPER_SRCS) executor/sandbox/sandbox_init.h \
                               executor/sandbox/sandbox_proto.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -g -O2 -D_FORTIFY_SOURCE=2 \
	    -fstack-protector-strong $(WARN) -static -o $@ $(HELPER_SRCS)

$(B)/functions-executor: $(patsubst %.c,$(B)/%.o,$(EXECUTOR_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(EXECUTOR_LIBS)

$(B)/unit/%: t/unit/%.c t/unit/tap.h $(patsubst %.c,$(B)/%.o,$(EXECUTOR_PURE))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -It/unit $(LDFLAGS) -o $@ $< \
	    $(patsubst %.c,$(B)/%.o,$(EXECUTOR_PURE)) \
	    -lhttp_parser -ljansson

# The module's JWT check is plain C: its unit test and fuzzer link it alone.
JWT_SRC := ngx_http_functions_module/ngx_http_functions_jwt.c
$(B)/unit/jwt_test: t/unit/jwt_test.c t/unit/tap.h $(JWT_SRC) \
                    ngx_http_functions_module/ngx_http_functions_jwt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -It/unit -Ingx_http_functions_module $(LDFLAGS) -o $@ \
	    $< $(JWT_SRC) -ljansson -lcrypto

# So is the seal of async call ids.
CALL_TAG_SRC := ngx_http_functions_module/ngx_http_functions_call_tag.c
$(B)/unit/call_tag_test: t/unit/call_tag_test.c t/unit/tap.h $(CALL_TAG_SRC) \
                         ngx_http_functions_module/ngx_http_functions_call_tag.h \
                         $(B)/common/ulid.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -It/unit -Icommon -Ingx_http_functions_module $(LDFLAGS) \
	    -o $@ $< $(CALL_TAG_SRC) $(B)/common/ulid.o -lcrypto

build/fuzz/jwt_fuzz: fuzz/jwt_fuzz.c $(JWT_SRC)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(WARN) -Ingx_http_functions_module \
	    -o $@ $< $(JWT_SRC) -ljansson -lcrypto

# libFuzzer harnesses for the pure parsers and encoders (clang).
fuzz: $(FUZZERS)

# The pure code is compiled once, instrumented for libFuzzer, and linked
# into every harness.
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-sanitize-recover=all \
               $(WARN) $(EXECUTOR_INC)
FUZZ_OBJS   := $(patsubst %.c,build/fuzz-obj/%.o,$(EXECUTOR_PURE))
.SECONDARY: $(FUZZ_OBJS)

build/fuzz-obj/%.o: %.c $(wildcard executor/*/*.h common/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    -c -o $@ $<

build/fuzz/%: fuzz/%.c $(FUZZ_OBJS) $(wildcard executor/*/*.h common/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    $(FUZZ_OBJS) -lhttp_parser -ljansson

fuzz-run: fuzz
	for f in $(FUZZERS); do \
	    mkdir -p build/fuzz/corpus/$$(basename $$f); \
	    $$f -max_total_time=$(FUZZ_SECONDS) \
	        build/fuzz/corpus/$$(basename $$f) fuzz/corpus/$$(basename $$f) \
	        || exit 1; \
	done

deps:
	scripts/deps

# Benchmarks (bench/README.md); numbers are printed, nothing is asserted.
bench: deps all
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/cold.sh
	bench/heads.sh
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/hot.sh
	scripts/stack services
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/module.sh
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/e2e.sh
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/async.sh
	FUNCTIONS_BUILD=$(CURDIR)/$(B) bench/registry.sh

# Every test file runs in the normal build.  With SANITIZE=1 the files of
# ONCE_TESTS are left out: they exercise no C path the others do not (the
# schema scripts, the harness itself, the stack script, the layering
# check) or are built with the sanitizers anyway (the fuzzers).  The slow
# system suites go there too: the packages, Prometheus over the dashboard
# (t/14 has the metrics' C paths) and the browser (t/26 has the console's).
# prove --timer prints each file's time: README.md, "Tests", has the budget.
ONCE_TESTS := t/02-schema-migrate.t t/04-stack.t t/05-fuzz-smoke.t \
              t/06-harness.t t/22-layers.t t/25-packages.t \
              t/27-prometheus.t t/28-console-browser.t
TESTS      := $(sort $(wildcard t/*.t))
ifneq ($(SANITIZE),)
TESTS      := $(filter-out $(ONCE_TESTS),$(TESTS))
endif

test: deps all fuzz
	scripts/stack services
	FUNCTIONS_BUILD=$(CURDIR)/$(B) SANITIZE=$(SANITIZE) prove --timer $(TESTS)

# The production-shaped cluster of scripts/cluster (network namespaces:
# two API hosts, three executors, Galera and RabbitMQ clusters) and its
# drills, as root.  The cluster is taken down after, unless
# FUNCTIONS_CLUSTER_KEEP=1.
test-cluster: deps all
	FUNCTIONS_BUILD=$(CURDIR)/$(B) scripts/cluster up
	FUNCTIONS_BUILD=$(CURDIR)/$(B) scripts/cluster exec client \
	    prove --timer $(sort $(wildcard t/cluster/*.t)); rc=$$?; \
	    [ -n "$$FUNCTIONS_CLUSTER_KEEP" ] || scripts/cluster down; exit $$rc

# A soak of the same cluster: mixed load for FUNCTIONS_SOAK_SECONDS (600
# by default), then its processes' memory and descriptors, and what is
# left behind (t/soak/cluster-soak.t).  Not part of make test-cluster.
soak: deps all
	FUNCTIONS_BUILD=$(CURDIR)/$(B) scripts/cluster up
	FUNCTIONS_BUILD=$(CURDIR)/$(B) scripts/cluster exec client \
	    prove -v t/soak/cluster-soak.t; rc=$$?; \
	    [ -n "$$FUNCTIONS_CLUSTER_KEEP" ] || scripts/cluster down; exit $$rc

# Debian packages (debian/): libnginx-mod-http-functions, functions-executor
# and functions-tools, built by debhelper from build/package into
# build/deb (README.md, "Install on a host").
deb:
	@# the build dependencies of debian/control (listed if missing)
	dpkg-checkbuilddeps
	rm -rf build/deb build/package
	mkdir -p build/deb
	debian/rules clean
	@# on every core, unless DEB_BUILD_OPTIONS says otherwise
	DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=$$(nproc)}" \
	    debian/rules build
	fakeroot debian/rules binary DESTDIR=$(CURDIR)/build/deb
	debian/rules clean
	ls -l build/deb

quickstart: deps all
	scripts/stack start

stop:
	scripts/stack stop

status:
	scripts/stack status

clean:
	rm -rf build
