"""SCons Tool modules, one per capability (PlatformIO's builder/tools layout).

Each module has ``exists(env)`` and ``generate(env)``; ``generate`` adds the
construction variables and ``env.AddMethod`` methods the build script uses.
"""
