// The emulation drivers' files: a test writes each input as raw little-endian float32 (DIR/NAME.f32) and reads
// each output back the same way. Include after cuda_emu.h; set dir from the command line first.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

static std::string dir;

static bool exists(const std::string& name) { return std::ifstream(dir + "/" + name + ".f32").good(); }

static std::vector<float> read(const std::string& name) {
    std::ifstream in(dir + "/" + name + ".f32", std::ios::binary | std::ios::ate);
    if (!in) { std::fprintf(stderr, "missing %s\n", name.c_str()); std::exit(2); }
    std::vector<float> v(in.tellg() / 4);
    in.seekg(0);
    in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
    return v;
}

static void write(const std::string& name, const std::vector<float>& v) {
    std::ofstream(dir + "/" + name + ".f32", std::ios::binary).write(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}
