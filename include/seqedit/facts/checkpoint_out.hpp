#ifndef SEQEDIT_FACTS_CHECKPOINT_OUT_HPP
#define SEQEDIT_FACTS_CHECKPOINT_OUT_HPP

/// \file checkpoint_out.hpp
/// Writing an edited checkpoint (pipeline.md §6, "the edited checkpoint"): the new W of each
/// edited layer goes into its tensor, in the tensor's own dtype and orientation (one
/// rounding from double), and only the shards that hold an edited tensor are rewritten,
/// each once with all its changed tensors; every other byte is copied unchanged.
///
/// * In place (`out_dir` empty): every new shard is written in full to a temporary file
///   next to it first; only when all are written (and fsynced) are they renamed over the
///   old shards. A failure before that leaves the checkpoint as it was.
/// * Into `out_dir` (which must not exist, nor lie inside the checkpoint folder): a folder
///   `<out_dir>.tmp-<pid>` next to it gets the rewritten shards and every other file of the
///   checkpoint, subfolders included (hard-linked, or copied where links are not possible;
///   a symbolic link, as in a Hugging Face cache snapshot, is replaced by the file it names),
///   under the same names, and is renamed to `out_dir` at the end. The source checkpoint is
///   never written; a failure leaves no `out_dir`.

#include <Eigen/Core>

#include <string>
#include <vector>

namespace seqedit {
namespace facts {

/// The new weights of one edited layer: W (d_v × d_k, the math orientation of
/// io::Checkpoint::load).
struct LayerWeights {
  int layer = 0;
  Eigen::MatrixXd weights;
};

/// Writes the edited checkpoint (see the file comment). \throws io::format_error for a
/// checkpoint without the layer's tensor, std::invalid_argument for a W of the wrong shape
/// or an `out_dir` that exists, io::io_error when the system refuses a write.
void write_edited_checkpoint(const std::string& model_dir, const std::vector<LayerWeights>& layers,
                             const std::string& out_dir = std::string());

}  // namespace facts
}  // namespace seqedit

#endif  // SEQEDIT_FACTS_CHECKPOINT_OUT_HPP
