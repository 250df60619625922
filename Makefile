# kpulse — build and test on a Debian-like machine. `make run` and `make test` install what is
# missing (Debian packages when root, npm packages always), so a fresh machine needs nothing else.
SHELL := /bin/bash
BUN := ./node_modules/.bin/bun
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VERSION := $(shell node -p 'require("./package.json").version' 2>/dev/null || echo 0.0.0)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_TIME := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

APT_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev binutils bpftool gcc libc6-dev iproute2 iptables util-linux procps curl prometheus chromium openjdk-17-jdk-headless maven containerd runc busybox-static docker.io openssl apache2-utils rpm rpmlint systemd cpio strace python3-venv
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I bpf/include -I bpf -Wall -Wno-unused-function
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRCS))
TEST_BPF_SRCS := $(wildcard tests/bpf/*.bpf.c)
TEST_BPF_OBJS := $(patsubst tests/bpf/%.bpf.c,build/test-bpf/%.bpf.o,$(TEST_BPF_SRCS))
TS_SRCS := $(shell find src ffi -name '*.ts' 2>/dev/null)
DEFINES := --define KPULSE_VERSION='"$(VERSION)"' --define KPULSE_COMMIT='"$(COMMIT)"' --define KPULSE_BUILD_TIME='"$(BUILD_TIME)"'

.PHONY: all deps build run test check bench clean rpm rpm-opencloudos k8s-tools k8s-manifests

all: build

# --- dependencies ---------------------------------------------------------------------------
deps: .cache/apt.stamp node_modules/.stamp

# Rebuilt when the package list changes (a machine that has the stamp still gets new packages).
.cache/apt.stamp: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root or install them)"; exit 1; fi; \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p .cache && touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- BPF objects (CO-RE, embedded in the executable) ----------------------------------------
bpf/vmlinux.h: | .cache/apt.stamp
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

build/bpf/%.bpf.o: bpf/%.bpf.c bpf/vmlinux.h $(wildcard bpf/include/*.h) | .cache/apt.stamp
	@mkdir -p $(@D)
	clang $(BPF_CFLAGS) -c $< -o $@
	llvm-strip -g $@

build/test-bpf/%.bpf.o: tests/bpf/%.bpf.c bpf/vmlinux.h $(wildcard bpf/include/*.h) | .cache/apt.stamp
	@mkdir -p $(@D)
	clang $(BPF_CFLAGS) -c $< -o $@
	llvm-strip -g $@

# Test and bench tools (C, built with the system compiler).
build/tools/%: tests/tools/%.c | .cache/apt.stamp
	@mkdir -p $(@D)
	cc -O2 -Wall -o $@ $<

# --- libbpf, embedded in the executable -------------------------------------------------------
# libbpf + libelf + zlib from Debian's static archives, linked into one shared object that needs
# only glibc; the executable loads it from a memfd (src/bpf/libbpf-origin.ts).
LIBBPF_BUNDLE := build/libbpf-bundle.so
$(LIBBPF_BUNDLE): $(wildcard native/libbpf-bundle/*.c) native/libbpf-bundle/build.sh | .cache/apt.stamp
	@mkdir -p $(@D)
	bash native/libbpf-bundle/build.sh $@

# --- the executable ---------------------------------------------------------------------------
build: build/kpulse

# The ring scheduler's waiter thread is a Worker: it must be an extra entrypoint of --compile.
build/kpulse: $(BPF_OBJS) $(LIBBPF_BUNDLE) $(TS_SRCS) src/bpf/ring-waiter.worker.ts node_modules/.stamp
	$(BUN) build --compile $(DEFINES) src/main.ts src/bpf/ring-waiter.worker.ts --outfile $@

# Test build: the same agent plus probes that exist only to prove failure isolation.
build/kpulse-test: $(BPF_OBJS) $(TEST_BPF_OBJS) $(LIBBPF_BUNDLE) $(TS_SRCS) tests/e2e/test-entry.ts src/bpf/ring-waiter.worker.ts node_modules/.stamp
	$(BUN) build --compile $(DEFINES) tests/e2e/test-entry.ts src/bpf/ring-waiter.worker.ts --outfile $@

# --- packages -----------------------------------------------------------------------------------
# `make rpm` builds build/rpm/RPMS/<arch>/kpulse-<version>-1.<arch>.rpm from the executable with
# Debian's rpmbuild; `make rpm DIST=oc9` (= `make rpm-opencloudos`) the OpenCloudOS 9 build, whose
# dist tag .oc9 turns on the spec's OpenCloudOS conditionals. Its BuildRequires
# (systemd-rpm-macros) is an OpenCloudOS package Debian cannot have: --nodeps, and the spec's
# own definitions of those macros stand in.
RPM_ARCH := $(shell uname -m)
RPM_TOP := build/rpm
RPM_OUT := $(RPM_TOP)/RPMS/$(RPM_ARCH)/kpulse-$(VERSION)-1$(if $(DIST),.$(DIST)).$(RPM_ARCH).rpm
RPM_SOURCES := build/kpulse conf/kpulse.toml packaging/systemd/kpulse.service packaging/rpm/kpulse.sysusers packaging/rpm/kpulse.sysconfig LICENSE README.md

rpm: $(RPM_OUT)

rpm-opencloudos:
	$(MAKE) rpm DIST=oc9

$(RPM_OUT): packaging/rpm/kpulse.spec $(RPM_SOURCES) | .cache/apt.stamp
	@mkdir -p $(RPM_TOP)/SOURCES
	cp -p $(RPM_SOURCES) $(RPM_TOP)/SOURCES/
	rpmbuild -bb --quiet --define '_topdir $(CURDIR)/$(RPM_TOP)' --define 'kpulse_version $(VERSION)' \
	  $(if $(DIST),--define 'dist .$(DIST)' --define 'disttag $(DIST)' --nodeps) packaging/rpm/kpulse.spec

run: deps build/kpulse
	./build/kpulse --config-dir conf --config kpulse.toml --region $${REGION:-local}

# --- Kubernetes packaging validators --------------------------------------------------------------
# helm and kubeconform from the Go module proxy, kubernetes-validate (which ships the Kubernetes
# JSON schemas, so nothing is downloaded at validation time) from PyPI, and a ServiceMonitor checker
# built on prometheus-operator's Go API types (tests/packaging/servicemonitor-check). Pinned; the
# stamps carry the versions so a new pin reinstalls. helm takes about 4 minutes to compile.
GO := /usr/local/go/bin/go
HELM_VERSION := v3.21.4
KUBECONFORM_VERSION := v0.8.0
KUBERNETES_VALIDATE_VERSION := 1.37.0
# Kubernetes version whose schemas kubeconform gets (one of those kubernetes-validate ships).
K8S_SCHEMA_VERSION := 1.37.0
K8S_TOOLS := .cache/bin/.helm-$(HELM_VERSION) .cache/bin/.kubeconform-$(KUBECONFORM_VERSION) \
  .cache/bin/servicemonitor-check .cache/k8s-schemas/.stamp-$(KUBERNETES_VALIDATE_VERSION)-$(K8S_SCHEMA_VERSION)

k8s-tools: $(K8S_TOOLS)

.cache/bin/.helm-$(HELM_VERSION):
	@mkdir -p $(@D)
	GOBIN=$(CURDIR)/.cache/bin $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@touch $@

.cache/bin/.kubeconform-$(KUBECONFORM_VERSION):
	@mkdir -p $(@D)
	GOBIN=$(CURDIR)/.cache/bin $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	@touch $@

.cache/bin/servicemonitor-check: tests/packaging/servicemonitor-check/main.go tests/packaging/servicemonitor-check/go.mod tests/packaging/servicemonitor-check/go.sum
	@mkdir -p $(@D)
	cd tests/packaging/servicemonitor-check && GOBIN=$(CURDIR)/.cache/bin $(GO) install .

.cache/k8s-venv/.stamp-$(KUBERNETES_VALIDATE_VERSION):
	rm -rf .cache/k8s-venv
	python3 -m venv .cache/k8s-venv
	.cache/k8s-venv/bin/pip install --quiet --disable-pip-version-check kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)
	@touch $@

.cache/k8s-schemas/.stamp-$(KUBERNETES_VALIDATE_VERSION)-$(K8S_SCHEMA_VERSION): .cache/k8s-venv/.stamp-$(KUBERNETES_VALIDATE_VERSION) tests/packaging/kubeconform-schemas.py
	rm -rf .cache/k8s-schemas
	.cache/k8s-venv/bin/python tests/packaging/kubeconform-schemas.py \
	  "$$(.cache/k8s-venv/bin/python -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')" \
	  $(K8S_SCHEMA_VERSION) .cache/k8s-schemas
	@touch $@

# packaging/kubernetes/ is the chart rendered with its defaults (tests check they stay equal).
K8S_RENDER := .cache/bin/helm template kpulse packaging/helm/kpulse --namespace kpulse --kube-version $(K8S_SCHEMA_VERSION) --set plainManifests=true
K8S_HEADER := \# Generated by make k8s-manifests from packaging/helm/kpulse (default values): edit the chart.
k8s-manifests: .cache/bin/.helm-$(HELM_VERSION)
	{ echo '$(K8S_HEADER)'; $(K8S_RENDER) --set createNamespace=true; } > packaging/kubernetes/kpulse.yaml
	{ echo '$(K8S_HEADER)'; echo '# Needs the prometheus-operator CRDs: apply it after kpulse.yaml.'; \
	  $(K8S_RENDER) --set serviceMonitor.enabled=true --show-only templates/servicemonitor.yaml; } > packaging/kubernetes/servicemonitor.yaml

# --- tests --------------------------------------------------------------------------------------
check: deps $(BPF_OBJS) $(LIBBPF_BUNDLE)
	./node_modules/.bin/tsc --noEmit -p .

TEST_TOOLS := build/tools/udp-flood build/tools/tcpreset build/tools/mdwe-exec

test: deps build/kpulse build/kpulse-test $(TEST_BPF_OBJS) $(TEST_TOOLS) $(K8S_TOOLS)
	./node_modules/.bin/tsc --noEmit -p .
	bash tests/run.sh

bench: deps build/kpulse $(TEST_TOOLS)
	@for b in bench/*.ts; do echo "== $$b"; $(BUN) $$b || exit 1; done

clean:
	rm -rf build bpf/vmlinux.h
