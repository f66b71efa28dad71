#pragma once
// Everything public in one include.
#include <seqtorch/data/recall_task.h>
#include <seqtorch/nn/cells.h>
#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/gradients.h>
#include <seqtorch/nn/init.h>
#include <seqtorch/nn/recurrent.h>
#include <seqtorch/nn/sequence_shapes.h>
