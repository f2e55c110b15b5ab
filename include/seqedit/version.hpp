#ifndef SEQEDIT_VERSION_HPP
#define SEQEDIT_VERSION_HPP

/// \file version.hpp
/// Library version, as macros and as constants.

#define SEQEDIT_VERSION_MAJOR 0
#define SEQEDIT_VERSION_MINOR 1
#define SEQEDIT_VERSION_PATCH 0
#define SEQEDIT_VERSION_STRING "0.1.0"

namespace seqedit {
inline constexpr int version_major = SEQEDIT_VERSION_MAJOR;
inline constexpr int version_minor = SEQEDIT_VERSION_MINOR;
inline constexpr int version_patch = SEQEDIT_VERSION_PATCH;
inline constexpr const char* version_string = SEQEDIT_VERSION_STRING;
}  // namespace seqedit

#endif  // SEQEDIT_VERSION_HPP
