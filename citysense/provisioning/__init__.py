"""Device provisioning: the registry row, the broker login (Mosquitto password file), the ACL that
confines each device to its own topics, and the config file the device runs with."""

from citysense.provisioning.mosquitto import PasswordFile, acl_text, write_acl
from citysense.provisioning.passwords import generate_password, hash_password, verify_password

__all__ = ["PasswordFile", "acl_text", "generate_password", "hash_password", "verify_password", "write_acl"]
