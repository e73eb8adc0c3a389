#!/bin/sh
# e2e check: the alert rules in samples/prometheus/ are valid (promtool check
# rules) and fire when they should (promtool test rules). promtool comes with
# Debian's prometheus package.
set -eu
cd "$(dirname "$0")/.."
. scripts/need.sh
need promtool prometheus
cd samples/prometheus
promtool check rules tokenreg-alerts.yml
promtool test rules tokenreg-alerts.test.yml
