#!/bin/sh
# User data of the demo VM booted by scripts/up: shows that the guest read its
# metadata and ran this script.
echo "hello from $(hostname): $(nproc) vCPU(s), $(free -m | awk '/Mem:/{print $2}') MiB RAM"
