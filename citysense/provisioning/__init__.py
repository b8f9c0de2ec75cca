"""Device provisioning: the registry row, the broker login (Mosquitto password file), the ACL that
confines each device to its own topics, and the config file the device runs with."""

from citysense.provisioning.mosquitto import AclRules, PasswordFile, write_acl
from citysense.provisioning.passwords import generate_password, hash_password, verify_password

__all__ = ["AclRules", "PasswordFile", "generate_password", "hash_password", "verify_password", "write_acl"]
