// vad_crnn: the voice-activity model of the zoo (model.h). Per frame of
// log-mel features: a per-bin input normalisation, two causal 1-D
// convolutions over time (kernel 3, batch norm, ReLU: each frame sees the
// two before it), a one-layer GRU, and a linear layer to one logit
// (speech). In eval mode the three batch norms are folded into the two
// convolutions (weights cached until a parameter changes), which is most of
// what a 32 ms chunk costs. Everything is causal, so a stream processed chunk by chunk, the
// conv context and the GRU state carried in one flat state vector, gives the
// offline output. Width (conv channels) and hidden (GRU size) come from the
// ModelSpec; the defaults make about 45k parameters. Not thread-safe for
// training.
#pragma once

#include "common/models/model.h"

namespace chorus::models {

ModelPtr MakeVadCrnn(const config::ModelSpec& spec, const InputShape& shape);

}  // namespace chorus::models
