// The consumer as C++: headers by their short names (-I<include>/mekivk);
// without the headers' extern "C" guards the calls would not link.
#include <mekivk.h>
#include <mekivk_vulkan.h>
#include <sampler.h>
#include <tokenizer.h>

#define LANG "C++"
#include "consumer.h"
