/* version: the one place the release number is written (CMake and the rockspec read it). */
#ifndef MMC_VERSION_H
#define MMC_VERSION_H

#define MMC_VERSION "0.1.0"

#endif
