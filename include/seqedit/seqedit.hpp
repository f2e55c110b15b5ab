#ifndef SEQEDIT_SEQEDIT_HPP
#define SEQEDIT_SEQEDIT_HPP

/// \file seqedit.hpp
/// Umbrella header of the solvers (the loader is <seqedit/io/io.hpp>, a separate target).

#include "alignment.hpp"
#include "errors.hpp"
#include "journal.hpp"
#include "objective.hpp"
#include "one_time_editor.hpp"
#include "progress.hpp"
#include "projector.hpp"
#include "prune.hpp"
#include "rect.hpp"
#include "regulariser.hpp"
#include "sequential_editor.hpp"
#include "version.hpp"

#endif  // SEQEDIT_SEQEDIT_HPP
