// SPDX-License-Identifier: GPL-2.0
/*
 * hmmsim: instantiate the tracepoints declared in trace.h.
 */
#define CREATE_TRACE_POINTS
#include "trace.h"
