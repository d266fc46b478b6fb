#!/usr/bin/python3
"""Turns a file into a C source defining `const char NAME[]` with its bytes
(NUL-terminated).  Used by meson to embed docs/openapi.json into nubod.

usage: embed.py NAME INPUT OUTPUT
"""
import sys

name, src, dst = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "w") as out:
    out.write("/* generated from %s by scripts/embed.py - do not edit */\n" % src)
    out.write("#include <stddef.h>\n")
    out.write("const char %s[] = {\n" % name)
    for i in range(0, len(data), 16):
        out.write("    " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
    out.write("    0x00};\n")
    out.write("const size_t %s_len = %d;\n" % (name, len(data)))
