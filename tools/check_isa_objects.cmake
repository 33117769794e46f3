# Run by the build (CMakeLists.txt, before linking the libraries) in CMake script mode:
#   cmake -DNM=<nm> -DOBJECTS="<a.o;b.o;...>" -P tools/check_isa_objects.cmake
# Each instruction-set copy of lossgrad/kernels_isa.cc must define exactly one external symbol,
# lossgrad::isa::<level>::Table(). Anything else it exports (typically an out-of-line copy of an
# inline template shared with the other copies: a family functor, a math.h or half.h helper) could
# be the copy the linker keeps for every caller, and run AVX-512 code on a machine without it.
# The build fails here instead, naming the symbols.
if(NOT NM OR NOT OBJECTS)
  message(FATAL_ERROR "check_isa_objects.cmake: pass -DNM=<nm> and -DOBJECTS=<object files>")
endif()
set(bad "")
foreach(obj IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} --defined-only --extern-only --demangle ${obj}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_isa_objects.cmake: ${NM} failed on ${obj}: ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(tables 0)
  foreach(line IN LISTS lines)
    if(line STREQUAL "")
      continue()
    endif()
    if(line MATCHES " T lossgrad::isa::[a-z0-9_]+::Table\\(\\)$")
      math(EXPR tables "${tables} + 1")
    elseif(line MATCHES " [VW] DW\\.ref\\.__gxx_personality_v0$")
      # the unwinder's pointer to the C++ personality routine (data, the same in every object)
    else()
      string(APPEND bad "\n  ${obj}: ${line}")
    endif()
  endforeach()
  if(NOT tables EQUAL 1)
    string(APPEND bad "\n  ${obj}: defines ${tables} level tables, not 1")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "an instruction-set object of the kernel core exports more than its table "
                      "(force-inline the helper, see lossgrad/kernels_isa.cc):${bad}")
endif()
