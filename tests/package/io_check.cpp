// Links seqedit::io from the installed package: writes a tensor and reads it back.
#include <seqedit/io/io.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

int main() {
  const std::string path =
      (std::filesystem::temp_directory_path() / "seqedit_package_check.safetensors").string();
  Eigen::MatrixXf m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  seqedit::io::SafetensorsWriter writer;
  writer.add("w", m, seqedit::io::DType::F32);
  writer.write(path);
  const seqedit::io::SafetensorsFile file(path);
  const Eigen::MatrixXf back = file.read_matrix<float>("w");
  std::remove(path.c_str());
  if (back != m) {
    std::cerr << "io_check: round trip differs\n";
    return 1;
  }
  std::cout << "io_check: ok\n";
  return 0;
}
