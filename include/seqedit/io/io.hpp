#ifndef SEQEDIT_IO_IO_HPP
#define SEQEDIT_IO_IO_HPP

/// \file io.hpp
/// Umbrella header of the seqedit file-format loader (CMake target `seqedit::io`):
/// safetensors, npy/npz, MEMIT statistics, Hugging Face checkpoint folders, atomic writes.

#include "atomic_file.hpp"
#include "checkpoint.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "npy.hpp"
#include "npz.hpp"
#include "safetensors.hpp"
#include "stats.hpp"

#endif  // SEQEDIT_IO_IO_HPP
