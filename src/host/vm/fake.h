/*
 * fake.h - the "fake" hypervisor driver (struct hv_driver fake_driver).
 *
 * FOR SCALE TESTS AND BENCHMARKS ONLY.  No guest ever runs: a VM of the
 * fake driver is a directory with its vm.json, and its state changes at
 * once (start -> running, stop -> stopped on the next loop turn, reboot
 * counts a boot).  Its console gets a line with the ready marker per boot
 * so that clients waiting for a boot work unchanged.  It lets one machine
 * play hundreds of hosts with thousands of VMs to exercise the controller
 * (placement, reconciliation, heartbeats) without QEMU.  nubo-hostd uses
 * it only with --driver fake, says so loudly in its log, and reports
 * "driver": "fake" to the controller and in GET /v1/host.
 */
#ifndef NUBO_HOST_FAKE_H
#define NUBO_HOST_FAKE_H

#include "host/vm/driver.h"

extern const struct hv_driver fake_driver;

#endif
