# unlockd: `make run` starts the whole development stack; `make test` runs every test.
# Both install what is missing first (as root with apt; otherwise they name the package to install).

SHELL := /bin/bash
GO ?= go
MAILPIT_VERSION := v1.27.11
AXE_VERSION := 4.14.1
DATA := .data
BIN := $(DATA)/bin/unlockd
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

.PHONY: run test bench build check fmt prereqs-run prereqs-ldap prereqs-test clean

# make run RESET=1 deletes the demo's database and mail first, for a fresh demo.
# make run LDAP=1 also runs a throwaway OpenLDAP directory (slapd with ppolicy) with a few people,
# one of them locked by failed binds, and points unlockd at it.
run: prereqs-run $(if $(LDAP),prereqs-ldap) build
	@exec $(BIN) dev $(if $(RESET),--reset) $(if $(LDAP),--ldap)

build:
	@mkdir -p $(DATA)/bin
	$(GO) build -o $(BIN) ./cmd/unlockd

test: prereqs-test
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal web migrations)" || { echo "gofmt needed:"; gofmt -l cmd internal web migrations; exit 1; }
	UNLOCKD_AXE_JS=$(CURDIR)/$(DATA)/axe/node_modules/axe-core/axe.min.js \
		$(GO) test -race -count=1 -timeout 30m ./...

# Benchmarks: hashing, CPU per sign-in of the built server (and of PostgreSQL) against CPU per raw
# argon2id hash, from /proc and getrusage, and the load tests.
bench: prereqs-run
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 30m ./internal/secret
	set -o pipefail; UNLOCKD_LOAD=1 $(GO) test -count=1 -run 'SignInCPU|RejectionCPU|CapacityPerOperation' -v -timeout 30m ./internal/bench | grep -E '^(LOAD|---|ok|FAIL)'
	$(GO) test -run '^$$' -bench . -benchtime 3s -timeout 30m ./internal/postgres
	set -o pipefail; UNLOCKD_LOAD=1 $(GO) test -count=1 -run 'Load' -v -timeout 30m ./internal/... | grep -E '^(LOAD|---|ok|FAIL)'


check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal web migrations)" || { gofmt -l cmd internal web migrations; exit 1; }

fmt:
	gofmt -w cmd internal web migrations

prereqs-run:
	@$(call need_postgres)
	@$(call need_mailpit)

prereqs-ldap:
	@$(call need_slapd)

prereqs-test: prereqs-run
	@$(call need_slapd)
	@$(call need_samba)
	@$(call need_chromium)
	@$(call need_axe)

clean:
	rm -rf $(DATA)/bin $(DATA)/axe

# need_postgres: the PostgreSQL server binaries (initdb, pg_ctl), from Debian's postgresql package.
define need_postgres
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing postgresql (apt)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
  else \
    echo "PostgreSQL server missing: install the 'postgresql' package (sudo apt-get install postgresql)"; exit 1; \
  fi; \
fi
endef

# need_slapd: OpenLDAP's server (slapd, slapadd, with the ppolicy module) for the directory tests,
# from Debian's slapd package; ldap-utils brings ldapsearch and friends, to look at it by hand.
# The tests run throwaway instances on free ports, each with its own configuration and database;
# the package's own service, which its installation may start, is stopped and disabled, because it
# would hold port 389, which the Active Directory tests need.
define need_slapd
if ! command -v slapd >/dev/null && [ ! -x /usr/sbin/slapd ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing slapd ldap-utils (apt)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >/dev/null; \
    { systemctl disable --now slapd || service slapd stop; } >/dev/null 2>&1 || true; \
  else \
    echo "OpenLDAP server missing: install the 'slapd' and 'ldap-utils' packages (sudo apt-get install slapd ldap-utils)"; exit 1; \
  fi; \
fi
endef

# need_samba: Samba's Active Directory domain controller (samba, samba-tool) for the directory
# tests of the ad kind. The tests provision a throwaway domain and run it themselves, as root, on
# 127.0.0.1:389 and :636 (ports Samba cannot move); the package's own services are left alone.
define need_samba
if ! command -v samba-tool >/dev/null; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing samba (apt)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba >/dev/null; \
  else \
    echo "Samba missing: install the 'samba' package (sudo apt-get install samba); its tests need root"; exit 1; \
  fi; \
fi
endef

# need_mailpit: the development mail catcher. go install compiles it from source, which takes
# minutes on a first run: say so, and say every 30 seconds that it is still going.
define need_mailpit
if ! command -v mailpit >/dev/null; then \
  echo "installing mailpit $(MAILPIT_VERSION) with go install: it is compiled from source, which takes a few minutes the first time"; \
  start=$$(date +%s); \
  ( while sleep 30; do echo "  still compiling mailpit ($$(( $$(date +%s) - start ))s so far)"; done ) & ticker=$$!; \
  $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION); rc=$$?; \
  kill $$ticker 2>/dev/null; wait $$ticker 2>/dev/null; \
  if [ $$rc -ne 0 ]; then echo "installing mailpit failed (exit $$rc)"; exit $$rc; fi; \
  echo "mailpit installed in $(GOBIN) after $$(( $$(date +%s) - start ))s"; \
fi
endef

# need_chromium: Debian's Chromium for the browser tests.
define need_chromium
if ! command -v chromium >/dev/null; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing chromium (apt)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
  else \
    echo "Chromium missing: install the 'chromium' package (sudo apt-get install chromium)"; exit 1; \
  fi; \
fi
endef

# need_axe: axe-core, the accessibility engine the browser tests inject into every page.
define need_axe
if [ ! -f $(DATA)/axe/node_modules/axe-core/axe.min.js ]; then \
  if command -v npm >/dev/null; then \
    echo "installing axe-core $(AXE_VERSION) (npm)"; \
    mkdir -p $(DATA)/axe && npm install --silent --no-audit --no-fund --prefix $(DATA)/axe axe-core@$(AXE_VERSION) >/dev/null; \
  else \
    echo "npm missing: install Node.js and npm (apt-get install npm) for the accessibility tests"; \
  fi; \
fi
endef
