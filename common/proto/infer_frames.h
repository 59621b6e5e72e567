// How an InferRequest travels on ZeroMQ: a small header (the request without
// its input) and the input as a frame of its own, so the broker routes on the
// header and forwards the input without parsing or copying it, and nothing
// reads or writes the protobuf wire format by hand.
//
//  - TakeInput moves a request's input (wav, pcm or features) out of it and
//    returns the bytes of the input frame; the request is left as the header,
//    with `input_frame` saying how to read the frame.
//  - PutInput is the inverse, on the receiving side: it puts the frame's
//    bytes back as the request's input. A header that names an input frame
//    without one, or a frame without a header that names it, or a frame that
//    does not parse, is an InvalidArgument naming what was wrong.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace chorus::proto {

std::string TakeInput(InferRequest* request);

// Whether a header and the presence of an input frame agree: a frame comes
// exactly when the header names one. PutInput checks it too; the broker
// checks it alone, since it forwards the frame unread.
Status CheckInputFrame(const InferRequest& header, bool has_frame);

// `has_frame` false: the request came without an input frame.
Status PutInput(InferRequest* request, const void* frame, size_t size, bool has_frame);

}  // namespace chorus::proto
