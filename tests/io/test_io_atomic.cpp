// Atomic file replacement: success, failure midway, and failures to create the file.
#include <seqedit/io/atomic_file.hpp>
#include <seqedit/io/npy.hpp>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include "../support/write_failure.hpp"

#include <Eigen/Core>

#include <stdexcept>
#include <string>

using namespace seqedit::io;
using iotest::TempDir;

TEST_CASE("write_file_atomically replaces the file and leaves no temporary", "[io][atomic]") {
  TempDir dir;
  const std::string path = dir.file("f.bin");
  iotest::write_bytes(path, "old contents");
  write_file_atomically(path, [](AtomicFileWriter& w) {
    w.write("new ");
    w.write(std::string("contents"));
    CHECK(w.bytes_written() == 12);
    CHECK_FALSE(w.temp_path().empty());
    CHECK(iotest::fs::exists(w.temp_path()));
  });
  CHECK(iotest::read_bytes(path) == "new contents");
  CHECK(iotest::list_dir(dir.path()) == std::vector<std::string>{"f.bin"});
}

TEST_CASE("a write that fails midway leaves the previous file byte-identical", "[io][atomic]") {
  TempDir dir;
  const std::string path = dir.file("f.bin");
  const std::string before(1000, 'x');
  iotest::write_bytes(path, before);

  SECTION("injected I/O failure after N bytes") {
    seqedit_test::ScopedWriteFailure fail(10);
    CHECK_THROWS_WITH(write_file_atomically(path, [](AtomicFileWriter& w) {
                        w.write(std::string(8, 'a'));
                        w.write(std::string(8, 'b'));  // exceeds the 10-byte budget
                      }),
                      Catch::Contains("injected failure") && Catch::Contains("f.bin"));
  }
  SECTION("the filling function throws") {
    CHECK_THROWS_AS(write_file_atomically(path, [](AtomicFileWriter& w) {
                      w.write(std::string(500, 'a'));
                      throw std::runtime_error("producer failed");
                    }),
                    std::runtime_error);
  }
  SECTION("destroyed without commit") {
    AtomicFileWriter w(path);
    w.write(std::string(2000, 'z'));
  }
  SECTION("write_npy interrupted") {
    seqedit_test::ScopedWriteFailure fail(200);
    CHECK_THROWS_AS(write_npy(path, Eigen::MatrixXd::Ones(10, 10)), io_error);
  }
  CHECK(iotest::read_bytes(path) == before);
  CHECK(iotest::list_dir(dir.path()) == std::vector<std::string>{"f.bin"});
}

TEST_CASE("creating a file whose folder is a regular file fails with the OS error", "[io][atomic]") {
  TempDir dir;
  iotest::write_bytes(dir.file("plain"), "x");
  const std::string path = dir.file("plain") + "/f.bin";
  CHECK_THROWS_AS(AtomicFileWriter(path), io_error);
  CHECK_THROWS_WITH(AtomicFileWriter(path), Catch::Contains("plain/f.bin") && Catch::Contains("Not a directory"));
}

TEST_CASE("write after failure is a logic error", "[io][atomic]") {
  TempDir dir;
  seqedit_test::ScopedWriteFailure fail(0);
  AtomicFileWriter w(dir.file("g.bin"));
  CHECK_THROWS_AS(w.write("x"), io_error);
  CHECK_THROWS_AS(w.write("x"), std::logic_error);
  CHECK_THROWS_AS(w.commit(), std::logic_error);
  CHECK_FALSE(iotest::fs::exists(dir.file("g.bin")));
  CHECK(iotest::list_dir(dir.path()).empty());
}
