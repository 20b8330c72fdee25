#!/bin/sh
# The deploy step of full-stack-feature.yaml: prints what it would deploy and exits 0.
# Replace the body with your real deploy (it runs on the agent the step is placed on).
set -eu
environment="${1:?usage: deploy.sh ENVIRONMENT}"
echo "deploy: would ship the reviewed UI and API to ${environment}"
echo "deploy: host $(uname -n), working directory $(pwd)"
echo "deploy: ${environment} is up to date (dry run: nothing was changed)"
