// libnuma, for binding a job's CPUs and memory to the NUMA node nearest its chips.
#include <numa.h>
