// ecapa_lite: the speaker-embedding model of the zoo (model.h), a small
// ECAPA-TDNN (Desplanques et al., 2020) for 8-16 kHz log-mel features:
//   a 1-D convolution over time (kernel 5) from the bins to `width` channels;
//   three residual blocks, each a 1x1 convolution, a dilated kernel-3
//   convolution (dilation 2, 3, 4) and squeeze-excitation;
//   multi-layer aggregation (the three blocks' outputs concatenated, 1x1
//   convolution to 3 x width);
//   attentive statistics pooling (a weighted mean and standard deviation
//   over time, the weights learnt per channel), so silence and padding can
//   be down-weighted;
//   a linear layer to `embedding_dim` with batch norm: the embedding.
// Batch norm follows each ReLU (none with norm: none). In training mode
// forward() returns the cosine of each embedding with each training
// speaker's centre (the AAM head, a [num_classes, embedding_dim] parameter
// exported with the model and unused when serving); in eval mode, the
// embedding. Not thread-safe for training.
#pragma once

#include "common/models/model.h"

namespace chorus::models {

ModelPtr MakeEcapaLite(const config::ModelSpec& spec, const InputShape& shape);

}  // namespace chorus::models
