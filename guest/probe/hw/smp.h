/* Secondary CPUs: how many the platform describes (MP table, else ACPI MADT) and start-up
 * with INIT/SIPI/SIPI from ring 3 through the xAPIC ICR. */
#ifndef PROBE_HW_SMP_H
#define PROBE_HW_SMP_H

#include <stdint.h>

/* Enabled processors in the MP table, else the MADT, else 1. `source` names which. */
unsigned smp_expected_cpus(const char** source);
/* Starts the APs once (later calls do nothing); returns the number of CPUs online. */
unsigned smp_start_aps(unsigned expected);
unsigned smp_online(void);
/* The address of the ACPI MADT's IOAPIC whose first GSI is gsi_base, or 0 (no MADT, none). */
uint64_t smp_madt_ioapic(uint32_t gsi_base);

#endif
