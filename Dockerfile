# The action's image. Users never build it: action.yml points at the image the release workflow
# pushed to GHCR. CI and `scripts/container_smoke.sh` build this file for the commit under test.
#
# Everything is pinned: the runtime dependencies by requirements/action.txt and the build tools by
# requirements/build.txt, both with hashes (regenerate with requirements/lock.sh). The package is
# installed from a wheel without its dev extras. Nothing depends on WORKDIR (the runner sets the
# working directory to /github/workspace) and there is no USER (the runner expects root).

FROM python:3.12-slim AS wheel
ENV PIP_ROOT_USER_ACTION=ignore
COPY requirements/build.txt /tmp/build.txt
RUN python -m pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/build.txt
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation \
    --wheel-dir /wheels /src

FROM python:3.12-slim
LABEL org.opencontainers.image.title="ml-artifactory-action" \
      org.opencontainers.image.description="Carry a trained ML model to production through JFrog Artifactory." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# COPY, not RUN --mount: podman's build cache ignores what a bind mount holds, and would keep an
# image of stale code or dependencies. The copies are a few kilobytes.
# git: build-info takes the commit message from the checkout when the event does not carry it (every
# event but push). Not pinned to a version: Debian keeps only the current build of a release's
# package, so a pin would stop the image building at git's next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/action.txt /tmp/action.txt
# --no-deps: the lock is the whole closure, each file hash-pinned. Without it pip re-resolves the
# extras a locked package asks for (sigstore-rekor-types wants pydantic[email]) and refuses them as
# "not pinned with ==" in --require-hashes mode, though pydantic and email-validator are both locked.
RUN python -m pip install --no-cache-dir --require-hashes --no-deps -r /tmp/action.txt \
    && python -m pip check && rm /tmp/action.txt
COPY --from=wheel /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-deps /tmp/wheels/*.whl && rm -r /tmp/wheels
# -P: do not put the working directory (the user's workspace) first on sys.path, so a file or
# folder there named like one of our modules can never replace it.
ENTRYPOINT ["/usr/local/bin/python", "-P", "-m", "ml_artifactory_action"]
