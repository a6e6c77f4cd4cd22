# rostrace: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
PY      := /usr/bin/python3
WS      := $(CURDIR)/ws
ENV     := . $(WS)/devel/setup.bash &&
PYTEST  ?= -ra

.PHONY: all setup build test unit abi demo bench clean docker-setup docker-test vm-test

all: build

setup:
	@MAKE_GOAL=$(MAKECMDGOALS) bash tools/setup_system.sh

build: setup
	@bash tools/build.sh

test: build docker-setup
	@bash -c '$(ENV) cd $(CURDIR) && $(PY) -m pytest $(PYTEST) test/unit test/integration test/docker'

unit:
	@$(PY) -m pytest -q test/unit

abi:	# after editing src/rostrace/probes/bpf/rostrace.h
	@cd src && $(PY) -m rostrace.probes.contract

bench: build
	@bash -c '$(ENV) cd $(CURDIR) && exec $(PY) -m bench.run'

demo: build
	@bash -c '$(ENV) exec $(PY) tools/demo.py'

docker-setup:
	@MAKE_GOAL=$(MAKECMDGOALS) bash tools/setup_docker.sh

# The Docker demo and the sidecar alone (`make test` runs them too): a Docker daemon
# (started when none runs), the demo image built from demo/Dockerfile, traced from a
# sidecar and from the host.
docker-test: build docker-setup
	@bash -c '$(ENV) cd $(CURDIR) && $(PY) -m pytest $(PYTEST) test/docker'

# rostrace on Debian 11 (kernel 5.10, BCC 0.18, ros_comm 1.15.9) in a KVM VM: the image
# is built once and cached (tools/vm/bullseye.sh); results in bench/results/vm_bullseye/.
vm-test:
	@bash tools/vm/bullseye.sh

clean:
	rm -rf $(WS)
