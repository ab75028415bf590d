/* The consumer as C: headers by their <mekivk/...> names. */
#include <mekivk/mekivk.h>
#include <mekivk/mekivk_vulkan.h>
#include <mekivk/sampler.h>
#include <mekivk/tokenizer.h>

#define LANG "C"
#include "consumer.h"
